"""What every evidence PDF shares: embedded fonts, cover, footer with page x of y, mapping, sign-off."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.graphics import shapes
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Flowable, Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONTS = Path(__file__).resolve().parents[1] / "fonts"
pdfmetrics.registerFont(TTFont("DejaVu", str(FONTS / "DejaVuSans.ttf")))
pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(FONTS / "DejaVuSans-Bold.ttf")))
pdfmetrics.registerFontFamily("DejaVu", normal="DejaVu", bold="DejaVu-Bold", italic="DejaVu", boldItalic="DejaVu-Bold")
# Every page starts in the embedded font: no standard-14 font (unembedded Helvetica) in any report.
rl_config.canvas_basefontname = "DejaVu"
shapes.STATE_DEFAULTS["fontName"] = "DejaVu"

BODY = ParagraphStyle("body", fontName="DejaVu", fontSize=8.5, leading=11, alignment=TA_LEFT)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7, leading=9)
# A heading stays on the page of what follows it (keepWithNext): never alone at the foot of a page.
H1 = ParagraphStyle("h1", parent=BODY, fontName="DejaVu-Bold", fontSize=16, leading=20, spaceAfter=6, keepWithNext=1)
H2 = ParagraphStyle("h2", parent=BODY, fontName="DejaVu-Bold", fontSize=11, leading=14, spaceBefore=8, spaceAfter=4,
                    keepWithNext=1)
# A caption introducing the chart or table below it, kept with it as a heading is.
LEAD = ParagraphStyle("lead", parent=BODY, keepWithNext=1)


def text(value: Any) -> str:
    """User-supplied text, escaped: names, tags and comments never become markup."""
    return escape("" if value is None else str(value))


def para(value: Any, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(text(value), style)


def table(rows: list[list[Any]], widths: list[float] | None = None, header: bool = True) -> Table:
    """A grid of small text; a cell that is already a flowable (a paragraph, a table) is placed as it is."""
    cells = [[c if isinstance(c, Flowable) else Paragraph(text(c), SMALL) for c in row] for row in rows]
    t = Table(cells, colWidths=widths, repeatRows=1 if header else 0)
    style = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("FONTNAME", (0, 0), (-1, -1), "DejaVu"),
             ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6")))
    t.setStyle(TableStyle(style))
    return t


def image(png: bytes, width: float) -> Image:
    from reportlab.lib.utils import ImageReader

    w, h = ImageReader(io.BytesIO(png)).getSize()
    return Image(io.BytesIO(png), width=width, height=width * h / w)


@dataclass
class CoverInfo:
    model_name: str
    model_title: str
    version: int
    stage: str
    risk_tier: str
    eu_ai_act_category: str
    owner: str
    intended_use: str
    report_kind: str
    report_id: int
    generated_at: dt.datetime
    input_digests: dict[str, str]
    metrics_sha256: str
    software: dict[str, str]
    audit_head: dict[str, Any]
    checkpoint: dict[str, Any] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # How the artifact was run: the skops allowlist's digest and the sandbox's isolation (reports/builders.py).
    sandbox: dict[str, str] = field(default_factory=dict)


def cover(info: CoverInfo, title: str) -> list[Any]:
    rows: list[list[Any]] = [
        ["Model", f"{info.model_name} — {info.model_title}"], ["Version", info.version], ["Stage", info.stage],
        ["Risk tier", info.risk_tier], ["EU AI Act category", info.eu_ai_act_category], ["Owner", info.owner],
        ["Report", f"{info.report_kind} report #{info.report_id}"],
        ["Generated (UTC)", info.generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")],
        ["Intended use", info.intended_use or "not stated"],
    ]
    digests: list[list[Any]] = [["Input", "SHA-256"], *([k, v] for k, v in sorted(info.input_digests.items()))]
    digests.append(["metrics JSON (this report's numbers)", info.metrics_sha256])
    software = [["Software", "Version"]] + [[k, v] for k, v in sorted(info.software.items())]
    audit = [["Audit log head", f"seq {info.audit_head.get('seq')}, hash {info.audit_head.get('hash')}"]]
    if info.checkpoint:
        cp = info.checkpoint
        audit.append(["Latest signed checkpoint", f"size {cp['size']}, root {cp['root']}, key {cp['key']}, {cp['ts']}"])
    else:
        audit.append(["Latest signed checkpoint", "none made yet"])
    story = [
        Paragraph(text(title), H1), table(rows, [45 * mm, 125 * mm], header=False), Spacer(1, 4 * mm),
        Paragraph("Inputs and digests", H2), table(digests, [55 * mm, 115 * mm]),
        Paragraph("Software", H2), table(software, [55 * mm, 115 * mm]),
    ]
    if info.sandbox:
        story += [Paragraph("How the artifact was run", H2),
                  table([[k, v] for k, v in info.sandbox.items()], [55 * mm, 115 * mm], header=False)]
    return [*story, Paragraph("Audit log at generation", H2), table(audit, [45 * mm, 125 * mm], header=False),
            PageBreak()]


def closing(mapping: list[list[str]], limitations: list[str] | None, signoffs: list[dict[str, Any]]) -> list[Any]:
    """Mapping, limitations and sign-off; `limitations` None where a section of the report already gave them."""
    story: list[Any] = [Paragraph("Regulatory mapping", H2),
                        table([["Section of this report", "Requirement it answers"], *mapping], [70 * mm, 100 * mm])]
    if limitations is not None:
        story += [Paragraph("Limitations", H2), *[para(f"• {item}") for item in limitations]]
    story.append(Paragraph("Sign-off", H2))
    if signoffs:
        story.append(table([["Who", "Role", "When (UTC)", "Decision", "Comment"]] + [
            [s.get("who"), s.get("role"), s.get("when"), s.get("decision"), s.get("comment", "")] for s in signoffs
        ], [30 * mm, 30 * mm, 35 * mm, 20 * mm, 55 * mm]))
    else:
        story.append(para("No approvals recorded yet (none yet)."))
    return story


class _NumberedCanvas(canvas.Canvas):
    """Draws the footer and 'page x of y' once the page count, and whatever the footer states, are known."""

    @staticmethod
    def footer_left() -> str:
        return ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._saved: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._saved.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved)
        left = self.footer_left()
        for state in self._saved:
            self.__dict__.update(state)
            self.setFont("DejaVu", 6.5)
            self.setFillColor(colors.grey)
            self.drawString(15 * mm, 8 * mm, f"{left} · page {self._pageNumber} of {total}")
            super().showPage()
        super().save()


def build(story: list[Any], *, title: str, report_id: int, metrics_sha256: str) -> bytes:
    footer = f"Report {report_id} · metrics JSON SHA-256 {metrics_sha256}"
    return render(story, title=title, footer=lambda: footer)


def render(story: list[Any], *, title: str, footer: Callable[[], str]) -> bytes:
    """Render deterministically: reportlab's invariant mode fixes dates and ids inside the file. `footer` is asked
    for its text once every page is laid out, so it may state a digest of what the story drew as it was consumed
    (the inventory's)."""
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=title, author="modelgov", subject=title,
                            creator="modelgov", producer="modelgov", invariant=1, initialFontName="DejaVu",
                            initialFontSize=8)
    maker: Callable[..., Any] = type("Footer", (_NumberedCanvas,), {"footer_left": staticmethod(footer)})
    doc.build(story, canvasmaker=maker)
    return buf.getvalue()
