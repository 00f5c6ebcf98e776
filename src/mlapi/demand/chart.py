"""An inline SVG chart of history, forecast and interval band, drawn by the app (no script)."""
from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


@dataclass
class Chart:
    """Coordinates ready for the template's <svg>."""

    width: int
    height: int
    history: str  # polyline points
    forecast: str  # polyline points
    band: str  # polygon points
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    split_x: float


def draw(history: list[tuple[str, float]], forecast: list[dict]) -> Chart:
    """Scale the weekly history and the forecast with its interval into the chart's frame."""
    points = len(history) + len(forecast)
    values = [v for _, v in history] + [p["lower"] for p in forecast] + [p["upper"] for p in forecast]
    low, high = min(values), max(values)
    high = high if high > low else low + 1

    def x(i: int) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * i / max(points - 1, 1), 1)

    def y(value: float) -> float:
        return round(TOP + (HEIGHT - TOP - BOTTOM) * (high - value) / (high - low), 1)

    start = len(history)
    upper = [f"{x(start + i)},{y(p['upper'])}" for i, p in enumerate(forecast)]
    lower = [f"{x(start + i)},{y(p['lower'])}" for i, p in enumerate(forecast)]
    dates = [d for d, _ in history] + [p["date"] for p in forecast]
    every = max(points // 6, 1)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        history=" ".join(f"{x(i)},{y(v)}" for i, (_, v) in enumerate(history)),
        forecast=" ".join([f"{x(start - 1)},{y(history[-1][1])}"] * bool(history)
                          + [f"{x(start + i)},{y(p['sales'])}" for i, p in enumerate(forecast)]),
        band=" ".join(upper + lower[::-1]),
        y_ticks=[(y(low + (high - low) * k / 4), f"{low + (high - low) * k / 4:,.0f}") for k in range(5)],
        x_ticks=[(x(i), dates[i]) for i in range(0, points, every)],
        split_x=x(start - 1) if history else x(0),
    )
