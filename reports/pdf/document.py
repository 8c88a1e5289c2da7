"""What every evidence PDF shares: embedded fonts, cover, footer on every page, closing sections, identical bytes."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.graphics import shapes
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, TimeStamp
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Table,
    TableStyle,
)

FONTS = Path(__file__).resolve().parents[1] / "fonts"
FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
pdfmetrics.registerFont(TTFont(FONT, str(FONTS / "DejaVuSans.ttf")))
pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "DejaVuSans-Bold.ttf")))
pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)
# reportlab starts every canvas and drawing in Helvetica, a standard-14 font that is never embedded: start in ours.
rl_config.canvas_basefontname = FONT
shapes.STATE_DEFAULTS["fontName"] = FONT

BODY = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=11, spaceAfter=3)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7, leading=8.8, spaceAfter=0)
H1 = ParagraphStyle("h1", parent=BODY, fontName=BOLD, fontSize=16, leading=20, spaceAfter=4)
H2 = ParagraphStyle("h2", parent=BODY, fontName=BOLD, fontSize=11.5, leading=14, spaceBefore=10, spaceAfter=4)
H3 = ParagraphStyle("h3", parent=BODY, fontName=BOLD, fontSize=9, leading=12, spaceBefore=6, spaceAfter=2)
WIDTH = A4[0] - 30 * mm  # the frame's width: 15 mm margins


@dataclass(frozen=True)
class CoverInfo:
    """What the cover states about the model, the report and its inputs, frozen when the report was requested."""

    model_name: str
    model_title: str
    version: int
    stage: str
    risk_tier: str
    eu_ai_act_category: str
    owner: str
    report_kind: str
    report_id: int | str
    generated_at: dt.datetime  # timezone-aware; printed, and stamped into the PDF, in UTC
    input_digests: dict[str, str]  # name -> SHA-256: artifact, datasets, configuration
    metrics_json_sha256: str
    software: dict[str, str]
    audit_head: dict[str, Any]  # {"seq": int, "hash": str}
    checkpoint: dict[str, Any] | None = None  # the latest signed checkpoint: {"size", "root", "ts", "key", ...}
    intended_use: str = ""
    # Free notes a renderer may print: "sensitive_source", "group_definitions" (bias), "decision" (explainability).
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.generated_at.tzinfo is None:
            raise ValueError("generated_at must be timezone-aware")

    @property
    def generated_utc(self) -> str:
        return self.generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def text(value: Any) -> str:
    """User-supplied text, escaped: names, tags and comments never become markup."""
    return escape("" if value is None else str(value))


def para(value: Any, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(text(value), style)


def bullets(items: Sequence[Any]) -> list[Paragraph]:
    return [Paragraph("• " + text(item), BODY) for item in items]


def fmt(value: Any, digits: int = 3) -> str:
    """A number as the report prints it; '—' where there is none."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def with_ci(stat: dict[str, Any] | None, digits: int = 3) -> str:
    if not stat or stat.get("value") is None:
        return "—"
    lo, hi = stat.get("ci") or (None, None)
    interval = "" if lo is None or hi is None else f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return f"{stat['value']:.{digits}f}{interval}"


def table(rows: Sequence[Sequence[Any]], widths: Sequence[float] | None = None, header: bool = True,
          highlight: Callable[[int], str | None] | None = None) -> Table:
    """Cells as wrapped paragraphs (long digests break anywhere); `highlight(row)` may give a row a colour."""
    cells = [[c if isinstance(c, Flowable) else Paragraph(text(c), SMALL) for c in row] for row in rows]
    t = Table(cells, colWidths=list(widths) if widths else None, repeatRows=1 if header else 0, hAlign="LEFT")
    style: list[Any] = [("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9a9a9a")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("FONTNAME", (0, 0), (-1, -1), FONT),
                        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4ebf5")))
    for i in range(1 if header else 0, len(rows)):
        colour = highlight(i) if highlight else None
        if colour:
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor(colour)))
    t.setStyle(TableStyle(style))
    return t


def image(png: bytes, width: float, max_height: float = 230 * mm) -> Image:
    w, h = ImageReader(io.BytesIO(png)).getSize()
    scale = min(width / w, max_height / h)
    return Image(io.BytesIO(png), width=w * scale, height=h * scale, hAlign="LEFT")


def cover(info: CoverInfo, title: str) -> list[Flowable]:
    facts = [["Model", f"{info.model_name} — {info.model_title}"], ["Version", info.version], ["Stage", info.stage],
             ["Risk tier", info.risk_tier], ["EU AI Act category", info.eu_ai_act_category], ["Owner", info.owner],
             ["Report", f"{info.report_kind} report, id {info.report_id}"], ["Generated", info.generated_utc],
             ["Intended use", info.intended_use or "not stated"]]
    digests = [["Input", "SHA-256"], *([k, v] for k, v in sorted(info.input_digests.items())),
               ["metrics JSON (this report's numbers, its machine-readable twin)", info.metrics_json_sha256]]
    software = [["Software", "Version"], *([k, v] for k, v in sorted(info.software.items()))]
    cp = info.checkpoint
    audit = [["Audit log head", f"seq {info.audit_head.get('seq')}, hash {info.audit_head.get('hash')}"],
             ["Latest signed checkpoint",
              f"size {cp.get('size')}, root {cp.get('root')}, key {cp.get('key')}, at {cp.get('ts')}" if cp
              else "none yet"]]
    return [Paragraph(text(title), H1), table(facts, [42 * mm, WIDTH - 42 * mm], header=False),
            Paragraph("Inputs and their digests", H2), table(digests, [62 * mm, WIDTH - 62 * mm]),
            para("Every page's footer repeats the metrics JSON digest: the JSON stored beside this PDF must hash "
                 "to it, and holds every number printed here.", SMALL),
            Paragraph("Software used", H2), table(software, [62 * mm, WIDTH - 62 * mm]),
            Paragraph("Audit log at generation", H2), table(audit, [42 * mm, WIDTH - 42 * mm], header=False),
            PageBreak()]


def closing(mapping: Sequence[Sequence[str]], limitations: Sequence[str],
            signoffs: Sequence[dict[str, Any]]) -> list[Flowable]:
    """Regulatory mapping, limitations and the sign-off block: the same closing for every report."""
    story: list[Flowable] = [
        Paragraph("Regulatory mapping", H2),
        table([["Section of this report", "Requirement it answers"], *mapping], [62 * mm, WIDTH - 62 * mm]),
        Paragraph("Limitations", H2), *bullets(limitations), Paragraph("Sign-off", H2)]
    if signoffs:
        story.append(para("Approvals recorded for this model version up to the audit head on the cover:"))
        story.append(table([["Who", "Role", "When (UTC)", "Decision", "Comment"]] + [
            [s.get("who"), s.get("role"), s.get("when"), s.get("decision"), s.get("comment") or ""]
            for s in signoffs], [30 * mm, 30 * mm, 36 * mm, 20 * mm, WIDTH - 116 * mm]))
    else:
        story.append(para("Approvals recorded: none yet."))
    return story


def keep(*flowables: Flowable) -> KeepTogether:
    return KeepTogether(list(flowables))


class _Doc(SimpleDocTemplate):
    """Adds an outline entry (PDF bookmark) for every H1 and H2, so a reader can jump between sections."""

    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, Paragraph) and flowable.style.name in ("h1", "h2"):
            self._marks = getattr(self, "_marks", 0) + 1
            key = f"s{self._marks}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0 if flowable.style.name == "h1" else 1)


def _stamp(moment: dt.datetime) -> TimeStamp:
    """reportlab's invariant timestamp moved to the report's generation time: dates in the file are the report's."""
    ts = TimeStamp(invariant=True)
    ts.t = moment.timestamp()
    ts.lt = time.gmtime(int(ts.t))
    ts.YMDhms = tuple(ts.lt)[:6]
    return ts


def build(make_story: Callable[[], list[Flowable]], info: CoverInfo, title: str) -> bytes:
    """Render twice, once to count the pages and once with 'page x of y' in every footer; invariant mode and the
    fixed timestamp make the bytes depend on the inputs only."""
    footer = "Report {id} · page {page} of {total} · metrics JSON sha256 {digest}"

    def render(total: int) -> tuple[bytes, int]:
        buf = io.BytesIO()
        doc = _Doc(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
                   bottomMargin=16 * mm, title=title, author=info.owner, subject=f"{info.model_name} v{info.version}",
                   keywords=f"metrics-json-sha256:{info.metrics_json_sha256}", creator="modelgov reports",
                   producer="modelgov reports (ReportLab)", invariant=1, initialFontName=FONT, initialFontSize=8)

        def on_page(canv: Canvas, _doc: Any) -> None:
            canv.saveState()
            canv.setFont(FONT, 6.5)
            canv.setFillColor(colors.HexColor("#555555"))
            canv.drawString(15 * mm, 8 * mm, footer.format(id=info.report_id, page=canv.getPageNumber(),
                                                            total=total, digest=info.metrics_json_sha256))
            canv.restoreState()

        def canvas_maker(*args: Any, **kwargs: Any) -> Canvas:
            canv = Canvas(*args, **kwargs)
            canv._doc._timeStamp = _stamp(info.generated_at)
            return canv

        doc.build(make_story(), onFirstPage=on_page, onLaterPages=on_page, canvasmaker=canvas_maker)
        return buf.getvalue(), doc.page

    _, pages = render(0)
    pdf, again = render(pages)
    if again != pages:  # cannot happen while the footer is drawn outside the frame; a wrong 'of y' must not ship
        raise RuntimeError(f"page count changed between passes: {pages} then {again}")
    return pdf

