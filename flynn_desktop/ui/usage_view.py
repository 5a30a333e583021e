"""The usage view: per model (and over all) answers, errors, tokens, cost, latency percentiles, error
and timeout rates, load; and a chart of tokens and cost per day."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QDialog, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from flynn_desktop.core.usage import DayUsage, UsageRow
from flynn_desktop.ui.bridge import RuntimeBridge

COLUMNS = (
    "model",
    "where",
    "answers",
    "errors",
    "tokens in",
    "tokens out",
    "cost $",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "1st token p50",
    "1st token p95",
    "1st token p99",
    "mean in",
    "mean out",
    "error %",
    "timeout %",
    "req/s",
    "peak",
)
IN, OUT, COST = QColor("#4c78a8"), QColor("#9ecae9"), QColor("#e45756")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def cells(r: UsageRow) -> tuple[str, ...]:
    return (
        r.model,
        "" if r.model == "all" else "cloud" if r.remote else "this computer",
        str(r.answers),
        str(r.errors),
        str(r.tokens_in),
        str(r.tokens_out),
        "?" if r.cost is None else f"{r.cost:.4f}",
        _ms(r.latency_p50_ms),
        _ms(r.latency_p95_ms),
        _ms(r.latency_p99_ms),
        _ms(r.first_token_p50_ms),
        _ms(r.first_token_p95_ms),
        _ms(r.first_token_p99_ms),
        "-" if r.mean_tokens_in is None else f"{r.mean_tokens_in:.0f}",
        "-" if r.mean_tokens_out is None else f"{r.mean_tokens_out:.0f}",
        f"{r.error_rate:.1%}",
        f"{r.timeout_rate:.1%}",
        f"{r.per_second:.3f}",
        str(r.peak_concurrent),
    )


class DayChart(QWidget):
    """The last `span` days, one slot each (a day without answers is a gap): tokens in and out as
    stacked bars, and the cost as a red line on its own scale."""

    def __init__(self, span: int = 30, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.span = span
        self.days: list[DayUsage] = []
        self.setMinimumHeight(190)

    def show_days(self, days: list[DayUsage]) -> None:
        self.days = days
        self.update()

    def paintEvent(self, _e: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().text().color()
        area = QRectF(self.rect()).adjusted(12, 24, -12, -22)
        p.setPen(text)
        if not self.days:
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, f"No answers in the last {self.span} days.")
            return
        last = date.today()
        first = last - timedelta(days=self.span - 1)
        by_day = {d.day: d for d in self.days if first <= d.day <= last}
        top = max([1] + [d.tokens_in + d.tokens_out for d in by_day.values()])
        top_cost = max([0.0] + [d.cost or 0.0 for d in by_day.values()])
        parts = [("tokens per day: ", text), ("■ in  ", IN), ("■ out  ", OUT), (f"(highest {top:,})", text)]
        if top_cost:
            parts.append((f"   ● cost per day (highest ${top_cost:.4f})", COST))
        x0 = 12.0
        for words, color in parts:  # the legend, each part in its own colour
            p.setPen(color)
            p.drawText(QPointF(x0, 16), words)
            x0 += p.fontMetrics().horizontalAdvance(words)
        step = area.width() / self.span
        bar = max(2.0, step * 0.7)
        points = []
        for i in range(self.span):
            day = first + timedelta(days=i)
            x = area.left() + i * step + (step - bar) / 2
            if i % 7 == (self.span - 1) % 7:  # a date under every seventh slot, today's included
                p.setPen(text)
                label = QRectF(x - 24, area.bottom() + 4, bar + 48, 16)
                p.drawText(label, Qt.AlignmentFlag.AlignCenter, f"{day:%m-%d}")
            d = by_day.get(day)
            if d is None:
                continue
            h_in = area.height() * d.tokens_in / top
            h_out = area.height() * d.tokens_out / top
            p.fillRect(QRectF(x, area.bottom() - h_in, bar, h_in), IN)
            p.fillRect(QRectF(x, area.bottom() - h_in - h_out, bar, h_out), OUT)
            if top_cost:
                points.append(QPointF(x + bar / 2, area.bottom() - area.height() * (d.cost or 0) / top_cost))
        if points:
            p.setPen(QPen(COST, 2))
            for a, b in itertools.pairwise(points):
                p.drawLine(a, b)
            for pt in points:
                p.drawEllipse(pt, 2.5, 2.5)


class UsageDialog(QDialog):
    def __init__(self, bridge: RuntimeBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Usage")
        self.resize(1100, 520)
        lay = QVBoxLayout(self)
        self.chart = DayChart()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.note = QLabel("")
        lay.addWidget(self.chart)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.note)
        runtime = bridge.runtime.sessions
        bridge.call(runtime.usage(), self.show_rows, lambda e: self.note.setText(str(e)))
        bridge.call(runtime.usage_by_day(30), self.chart.show_days, lambda e: self.note.setText(str(e)))

    def show_rows(self, rows: list[UsageRow]) -> None:
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, text in enumerate(cells(r)):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.note.setText(
            "No answers yet."
            if not rows
            else "Cost '?' means no price is set in models.prices. peak: the most answers in flight at once; "
            "req/s: requests over the time from the first to the last."
        )
