import pytest

from bank import Account, InsufficientFunds


def test_transfer_moves_money():
    a, b = Account("ann", 100), Account("bob", 5)
    a.transfer(b, 30)
    assert (a.balance, b.balance) == (70, 35)


def test_insufficient_funds_changes_nothing():
    a, b = Account("ann", 10), Account("bob", 5)
    with pytest.raises(InsufficientFunds):
        a.transfer(b, 11)
    assert (a.balance, b.balance) == (10, 5)


@pytest.mark.parametrize("amount", [0, -5])
def test_non_positive_amount_raises_value_error(amount):
    a, b = Account("ann", 10), Account("bob", 5)
    with pytest.raises(ValueError):
        a.transfer(b, amount)
    assert (a.balance, b.balance) == (10, 5)


def test_deposit_and_withdraw_still_work():
    a = Account("ann")
    a.deposit(20)
    a.withdraw(5)
    assert a.balance == 15
    with pytest.raises(InsufficientFunds):
        a.withdraw(100)
