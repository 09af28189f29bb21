import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert temperatures.")
    sub = parser.add_subparsers(dest="command", required=True)
    c2f = sub.add_parser("c2f", help="Celsius to Fahrenheit")
    c2f.add_argument("value", type=float)
    f2c = sub.add_parser("f2c", help="Fahrenheit to Celsius")
    f2c.add_argument("value", type=float)
    args = parser.parse_args(argv)
    if args.command == "c2f":
        result = args.value * 9 / 5 + 32
    else:
        result = (args.value - 32) * 5 / 9
    print(f"{result:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
