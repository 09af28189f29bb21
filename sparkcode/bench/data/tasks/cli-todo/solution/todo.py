import argparse
import json
import sys
from pathlib import Path

STORE = Path("todo.json")


def load():
    if STORE.exists():
        return json.loads(STORE.read_text())
    return []


def save(tasks):
    STORE.write_text(json.dumps(tasks, indent=2))


def main(argv=None):
    parser = argparse.ArgumentParser(description="A small to-do list.")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add")
    add.add_argument("text")
    sub.add_parser("list")
    done = sub.add_parser("done")
    done.add_argument("id", type=int)
    args = parser.parse_args(argv)
    tasks = load()
    if args.command == "add":
        new_id = max((t["id"] for t in tasks), default=0) + 1
        tasks.append({"id": new_id, "text": args.text, "done": False})
        save(tasks)
        print(f"added {new_id}: {args.text}")
    elif args.command == "list":
        for t in tasks:
            print(f"{t['id']} [{'x' if t['done'] else ' '}] {t['text']}")
    else:
        for t in tasks:
            if t["id"] == args.id:
                t["done"] = True
                save(tasks)
                break
        else:
            print(f"todo: no task with id {args.id}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
