import argparse
import csv
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description="Sum a column of a CSV file.")
    parser.add_argument("file")
    parser.add_argument("column")
    parser.add_argument("--where", help="COLUMN=VALUE: only rows where COLUMN equals VALUE")
    args = parser.parse_args(argv)
    where = None
    if args.where:
        if "=" not in args.where:
            parser.error("--where takes COLUMN=VALUE")
        where = args.where.split("=", 1)
    try:
        with open(args.file, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            for col in [args.column] + ([where[0]] if where else []):
                if col not in header:
                    print(f"csvsum: no column {col!r} in {args.file}", file=sys.stderr)
                    return 2
            total = sum(float(row[args.column]) for row in reader if not where or row[where[0]] == where[1])
    except FileNotFoundError as e:
        print(f"csvsum: {e}", file=sys.stderr)
        return 1
    print(f"{total:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
