//! Report exports. [`sections`] lays a report out once as headed tables; DOCX (the format these
//! offices circulate), XLSX and the print page all render those sections, so they cannot
//! disagree with each other or with the report page.

use std::io::Write;

use rust_xlsxwriter::{Format, Workbook};
use zip::write::SimpleFileOptions;

use crate::Error;
use crate::reports::{Report, local_time};

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Num(f64),
    /// A rate or a duration: always one decimal, as the page shows it.
    Dec(f64),
    Empty,
}

impl Cell {
    pub fn display(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(n) if n.fract() == 0.0 => format!("{n:.0}"),
            Cell::Num(n) => format!("{n:.1}"),
            Cell::Dec(n) => format!("{n:.1}"),
            Cell::Empty => "—".into(),
        }
    }
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn n(v: impl Into<f64>) -> Cell {
    Cell::Num(v.into())
}

fn opt(v: Option<f64>) -> Cell {
    v.map(Cell::Dec).unwrap_or(Cell::Empty)
}

#[derive(Debug, Clone)]
pub struct Section {
    /// Short name, also the XLSX sheet name (≤ 31 characters).
    pub sheet: &'static str,
    pub heading: &'static str,
    pub paragraph: Option<String>,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// The one-paragraph summary a leader reads first.
pub fn summary(r: &Report) -> String {
    let x = &r.totals;
    let rate = x
        .on_time_rate
        .map(|v| format!("{v:.1}%"))
        .unwrap_or_else(|| "—".into());
    format!(
        "本期共监测舆情信息{}条，其中负面{}条；涉及舆情事件{}个。新交办案件{}件，办结{}件；到期回应时限{}个，按时完成{}个，按时率{}；超时{}次，升级督办{}次；截至报告生成时超期未办结{}件。",
        x.items,
        x.negative_items,
        x.events,
        x.cases_opened,
        x.cases_closed,
        x.deadlines_due,
        x.deadlines_on_time,
        rate,
        x.breaches,
        x.escalations,
        x.overdue_open
    )
}

pub fn sections(r: &Report) -> Vec<Section> {
    let x = &r.totals;
    let off = r.utc_offset_hours;
    let case_rows = |lines: &[crate::reports::CaseLine], with_met: bool| -> Vec<Vec<Cell>> {
        lines
            .iter()
            .map(|l| {
                let mut row = vec![
                    t(l.case_id.clone()),
                    t(l.title.clone()),
                    t(l.owner.clone()),
                    t(l.deadline),
                    t(local_time(l.due_at, off)),
                ];
                if with_met {
                    row.push(
                        l.met_at
                            .map(|m| t(local_time(m, off)))
                            .unwrap_or_else(|| t("未完成")),
                    );
                } else {
                    row.push(t(crate::views::state_label(l.state)));
                }
                row
            })
            .collect()
    };
    vec![
        Section {
            sheet: "总体情况",
            heading: "一、总体情况",
            paragraph: Some(summary(r)),
            header: vec!["指标", "数值"],
            rows: vec![
                vec![t("舆情信息（条）"), n(x.items as f64)],
                vec![t("负面信息（条）"), n(x.negative_items as f64)],
                vec![t("舆情事件（个）"), n(x.events as f64)],
                vec![t("新交办案件（件）"), n(x.cases_opened as f64)],
                vec![t("办结案件（件）"), n(x.cases_closed as f64)],
                vec![t("到期回应时限（个）"), n(x.deadlines_due as f64)],
                vec![t("按时完成（个）"), n(x.deadlines_on_time as f64)],
                vec![t("按时率（%）"), opt(x.on_time_rate)],
                vec![t("超时（次）"), n(x.breaches as f64)],
                vec![t("升级督办（次）"), n(x.escalations as f64)],
                vec![t("超期未办结（件）"), n(x.overdue_open as f64)],
            ],
        },
        Section {
            sheet: "信息量走势",
            heading: "二、信息量走势",
            paragraph: None,
            header: vec!["时段", "信息量"],
            rows: r
                .volume
                .iter()
                .map(|b| vec![t(b.label.clone()), n(b.items as f64)])
                .collect(),
        },
        Section {
            sheet: "重点监测类别",
            heading: "三、重点监测类别分布",
            paragraph: None,
            header: vec!["类别", "信息量"],
            rows: r
                .by_priority
                .iter()
                .map(|p| vec![t(p.label), n(p.items as f64)])
                .collect(),
        },
        Section {
            sheet: "区县分布",
            heading: "四、区（市、县）分布",
            paragraph: None,
            header: vec!["区（市、县）", "信息量"],
            rows: r
                .by_district
                .iter()
                .map(|d| vec![t(d.district.clone()), n(d.items as f64)])
                .collect(),
        },
        Section {
            sheet: "热点事件",
            heading: "五、热点事件",
            paragraph: None,
            header: vec!["序号", "事件", "热度", "信息量", "属地", "类别", "级别"],
            rows: r
                .top_events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    vec![
                        n((i + 1) as f64),
                        t(e.title.clone()),
                        n(e.heat),
                        n(e.doc_count as f64),
                        t(e.district.clone().unwrap_or_else(|| "—".into())),
                        t(e.priorities.join("、")),
                        t(&e.severity),
                    ]
                })
                .collect(),
        },
        Section {
            sheet: "责任单位回应",
            heading: "六、责任单位回应情况",
            paragraph: Some(crate::reports::GRADE_RULE.to_string()),
            header: vec![
                "责任单位",
                "交办（件）",
                "到期时限（个）",
                "按时（个）",
                "按时率（%）",
                "首次权威发布中位用时（小时）",
                "超期（件）",
                "评价",
            ],
            rows: r
                .units
                .iter()
                .map(|u| {
                    vec![
                        t(u.unit_name.clone()),
                        n(u.assigned as f64),
                        n(u.deadlines_due as f64),
                        n(u.deadlines_on_time as f64),
                        opt(u.on_time_rate),
                        opt(u.median_first_release_hours),
                        n(u.overdue as f64),
                        t(u.grade),
                    ]
                })
                .collect(),
        },
        Section {
            sheet: "超期未办结",
            heading: "七、超期未办结案件（督查督办）",
            paragraph: None,
            header: vec!["案件编号", "标题", "责任单位", "时限", "截止时间", "状态"],
            rows: case_rows(&r.overdue, false),
        },
        Section {
            sheet: "超时记录",
            heading: "八、本期超时记录",
            paragraph: None,
            header: vec![
                "案件编号",
                "标题",
                "责任单位",
                "时限",
                "截止时间",
                "完成时间",
            ],
            rows: case_rows(&r.breaches, true),
        },
    ]
}

pub fn xlsx(r: &Report) -> Result<Vec<u8>, Error> {
    let xe = |e: rust_xlsxwriter::XlsxError| Error::Export(e.to_string());
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    for s in sections(r) {
        let ws = wb.add_worksheet();
        ws.set_name(s.sheet).map_err(xe)?;
        let mut row = 0u32;
        if s.sheet == "总体情况" {
            ws.write_string_with_format(0, 0, &r.title, &bold)
                .map_err(xe)?;
            ws.write_string(
                1,
                0,
                format!(
                    "生成时间：{}",
                    local_time(r.generated_at, r.utc_offset_hours)
                ),
            )
            .map_err(xe)?;
            row = 3;
        }
        for (c, h) in s.header.iter().enumerate() {
            ws.write_string_with_format(row, c as u16, *h, &bold)
                .map_err(xe)?;
        }
        for cells in &s.rows {
            row += 1;
            for (c, cell) in cells.iter().enumerate() {
                match cell {
                    Cell::Text(v) => ws.write_string(row, c as u16, v).map(|_| ()),
                    Cell::Num(v) | Cell::Dec(v) => ws.write_number(row, c as u16, *v).map(|_| ()),
                    Cell::Empty => ws.write_string(row, c as u16, "—").map(|_| ()),
                }
                .map_err(xe)?;
            }
        }
        ws.set_column_width(0, 22).map_err(xe)?;
        ws.set_column_width(1, 36).map_err(xe)?;
    }
    wb.save_to_buffer().map_err(xe)
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters; crawled text may carry them.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// A run in the official-document fonts (GB/T 9704: 方正小标宋 title, 仿宋 body); `size` in
/// half-points.
fn run(text: &str, size: u32, bold: bool, font: &str) -> String {
    format!(
        r#"<w:r><w:rPr><w:rFonts w:ascii="{font}" w:hAnsi="{font}" w:eastAsia="{font}"/>{}<w:sz w:val="{size}"/><w:szCs w:val="{size}"/></w:rPr><w:t xml:space="preserve">{}</w:t></w:r>"#,
        if bold { "<w:b/>" } else { "" },
        xml_escape(text)
    )
}

fn para(text: &str, size: u32, bold: bool, font: &str, center: bool) -> String {
    format!(
        r#"<w:p><w:pPr>{}<w:spacing w:after="120"/></w:pPr>{}</w:p>"#,
        if center {
            r#"<w:jc w:val="center"/>"#
        } else {
            ""
        },
        run(text, size, bold, font)
    )
}

fn table(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let cell = |text: &str, bold: bool| {
        format!(
            r#"<w:tc><w:tcPr><w:tcW w:w="0" w:type="auto"/></w:tcPr><w:p>{}</w:p></w:tc>"#,
            run(text, 21, bold, "仿宋")
        )
    };
    let mut out = String::from(
        r#"<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="5000" w:type="pct"/><w:tblBorders><w:top w:val="single" w:sz="4"/><w:left w:val="single" w:sz="4"/><w:bottom w:val="single" w:sz="4"/><w:right w:val="single" w:sz="4"/><w:insideH w:val="single" w:sz="4"/><w:insideV w:val="single" w:sz="4"/></w:tblBorders></w:tblPr>"#,
    );
    out.push_str("<w:tr>");
    for h in header {
        out.push_str(&cell(h, true));
    }
    out.push_str("</w:tr>");
    for r in rows {
        out.push_str("<w:tr>");
        for c in r {
            out.push_str(&cell(&c.display(), false));
        }
        out.push_str("</w:tr>");
    }
    out.push_str("</w:tbl>");
    out
}

pub fn docx(r: &Report) -> Result<Vec<u8>, Error> {
    let mut body = String::new();
    body.push_str(&para(&r.title, 44, true, "方正小标宋简体", true));
    body.push_str(&para(
        &format!(
            "统计时段：{} 至 {}　　生成时间：{}",
            r.start_date,
            r.end_date,
            local_time(r.generated_at, r.utc_offset_hours)
        ),
        24,
        false,
        "仿宋",
        true,
    ));
    for s in sections(r) {
        body.push_str(&para(s.heading, 32, true, "黑体", false));
        if let Some(p) = &s.paragraph {
            body.push_str(&para(p, 32, false, "仿宋", false));
        }
        if s.rows.is_empty() {
            body.push_str(&para("本期无。", 32, false, "仿宋", false));
        } else {
            body.push_str(&table(&s.header, &s.rows));
        }
    }
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="2098" w:right="1474" w:bottom="1984" w:left="1588" w:header="851" w:footer="992" w:gutter="0"/></w:sectPr></w:body></w:document>"#
    );
    let files: [(&str, &str); 3] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
        ),
        ("word/document.xml", &document),
    ];
    let ze = |e: zip::result::ZipError| Error::Export(e.to_string());
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        zw.start_file(name, opts).map_err(ze)?;
        zw.write_all(content.as_bytes())?;
    }
    Ok(zw.finish().map_err(ze)?.into_inner())
}
