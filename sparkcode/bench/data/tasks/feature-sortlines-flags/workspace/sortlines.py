import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print the lines of a file in sorted order.")
    parser.add_argument("file")
    args = parser.parse_args(argv)
    try:
        with open(args.file) as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"sortlines: {e}", file=sys.stderr)
        return 1
    for line in sorted(lines):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
