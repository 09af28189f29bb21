import ast
from pathlib import Path

HERE = Path(__file__).parent


def assigns_tax_rate(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            targets = []
        if any(isinstance(t, ast.Name) and t.id == "TAX_RATE" for t in targets):
            return True
    return False


def test_config_holds_the_new_rate():
    import config

    assert config.TAX_RATE == 0.25


def test_invoice_and_quote_do_not_define_their_own():
    assert not assigns_tax_rate(HERE / "invoice.py")
    assert not assigns_tax_rate(HERE / "quote.py")


def test_invoice_uses_the_new_rate():
    from invoice import invoice_total

    assert invoice_total([("widget", 2, 10.0), ("nut", 4, 2.5)]) == 37.5


def test_quote_uses_the_new_rate():
    from quote import quote

    assert quote(100) == 125.0
    assert quote(8, 3) == 30.0
