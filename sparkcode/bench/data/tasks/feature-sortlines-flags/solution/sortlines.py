import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print the lines of a file in sorted order.")
    parser.add_argument("file")
    parser.add_argument("-r", "--reverse", action="store_true", help="reverse sorted order")
    parser.add_argument("-u", "--unique", action="store_true", help="print each distinct line once")
    args = parser.parse_args(argv)
    try:
        with open(args.file) as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"sortlines: {e}", file=sys.stderr)
        return 1
    if args.unique:
        lines = set(lines)
    for line in sorted(lines, reverse=args.reverse):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
