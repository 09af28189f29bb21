"""Unit conversions for the inventory service.

Every converter validates its input and rounds to a fixed number of decimals so that
reports are stable across platforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DECIMALS = 4


class ConversionError(ValueError):
    """Raised when a value cannot be converted."""


def _check(value: float, name: str) -> float:
    if value is None:
        raise ConversionError(f"{name}: missing value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConversionError(f"{name}: expected a number, got {type(value).__name__}")
    if math.isnan(value) or math.isinf(value):
        raise ConversionError(f"{name}: value must be finite")
    return float(value)


def meters_to_feet(value: float) -> float:
    """Convert meters to feet."""
    value = _check(value, "meters")
    return round(value * 3.28084, DECIMALS)


def feet_to_meters(value: float) -> float:
    """Convert feet to meters."""
    value = _check(value, "feet")
    return round(value / 3.28084, DECIMALS)


def kilometers_to_miles(value: float) -> float:
    """Convert kilometers to miles."""
    value = _check(value, "kilometers")
    return round(value * 0.621371, DECIMALS)


def miles_to_kilometers(value: float) -> float:
    """Convert miles to kilometers."""
    value = _check(value, "miles")
    return round(value / 0.621371, DECIMALS)


def kilograms_to_pounds(value: float) -> float:
    """Convert kilograms to pounds."""
    value = _check(value, "kilograms")
    return round(value * 2.20462, DECIMALS)


def pounds_to_kilograms(value: float) -> float:
    """Convert pounds to kilograms."""
    value = _check(value, "pounds")
    return round(value / 2.20462, DECIMALS)


def liters_to_gallons(value: float) -> float:
    """Convert liters to gallons."""
    value = _check(value, "liters")
    return round(value * 0.264172, DECIMALS)


def gallons_to_liters(value: float) -> float:
    """Convert gallons to liters."""
    value = _check(value, "gallons")
    return round(value / 0.264172, DECIMALS)


def celsius_delta_to_fahrenheit_delta(value: float) -> float:
    """Convert celsius delta to fahrenheit delta."""
    value = _check(value, "celsius_delta")
    return round(value * 1.8, DECIMALS)


def fahrenheit_delta_to_celsius_delta(value: float) -> float:
    """Convert fahrenheit delta to celsius delta."""
    value = _check(value, "fahrenheit_delta")
    return round(value / 1.8, DECIMALS)


def grams_to_ounces(value: float) -> float:
    """Convert grams to ounces."""
    value = _check(value, "grams")
    return round(value * 0.035274, DECIMALS)


def ounces_to_grams(value: float) -> float:
    """Convert ounces to grams."""
    value = _check(value, "ounces")
    return round(value / 0.035274, DECIMALS)


def centimeters_to_inches(value: float) -> float:
    """Convert centimeters to inches."""
    value = _check(value, "centimeters")
    return round(value * 0.393701, DECIMALS)


def inches_to_centimeters(value: float) -> float:
    """Convert inches to centimeters."""
    value = _check(value, "inches")
    return round(value / 0.393701, DECIMALS)


def hectares_to_acres(value: float) -> float:
    """Convert hectares to acres."""
    value = _check(value, "hectares")
    return round(value * 2.47105, DECIMALS)


def acres_to_hectares(value: float) -> float:
    """Convert acres to hectares."""
    value = _check(value, "acres")
    return round(value / 2.47105, DECIMALS)


def newtons_to_pound_force(value: float) -> float:
    """Convert newtons to pound force."""
    value = _check(value, "newtons")
    return round(value * 0.224809, DECIMALS)


def pound_force_to_newtons(value: float) -> float:
    """Convert pound force to newtons."""
    value = _check(value, "pound_force")
    return round(value / 0.224809, DECIMALS)


def joules_to_calories(value: float) -> float:
    """Convert joules to calories."""
    value = _check(value, "joules")
    return round(value * 0.239006, DECIMALS)


def calories_to_joules(value: float) -> float:
    """Convert calories to joules."""
    value = _check(value, "calories")
    return round(value / 0.239006, DECIMALS)


def watts_to_horsepower(value: float) -> float:
    """Convert watts to horsepower."""
    value = _check(value, "watts")
    return round(value * 0.00134102, DECIMALS)


def horsepower_to_watts(value: float) -> float:
    """Convert horsepower to watts."""
    value = _check(value, "horsepower")
    return round(value / 0.00134102, DECIMALS)


def pascals_to_psi(value: float) -> float:
    """Convert pascals to psi."""
    value = _check(value, "pascals")
    return round(value * 0.000145038, DECIMALS)


def psi_to_pascals(value: float) -> float:
    """Convert psi to pascals."""
    value = _check(value, "psi")
    return round(value / 0.000145038, DECIMALS)


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str

    def to(self, unit: str) -> "Quantity":
        key = f"{self.unit}_to_{unit}"
        fn = CONVERTERS.get(key)
        if fn is None:
            raise ConversionError(f"no conversion from {self.unit} to {unit}")
        return Quantity(fn(self.value), unit)


CONVERTERS = {
    name: fn
    for name, fn in globals().items()
    if callable(fn) and "_to_" in name and not name.startswith("_")
}

