//! Charts drawn on the server as SVG, readable without JavaScript: a trend line per indicator
//! with its target as a dashed line, and the values as text for screen readers.

/// Escapes text for SVG (labels come from the code, but nothing is trusted blindly).
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line over the periods, oldest first; periods without a value leave a gap.
pub fn trend(
    points: &[(String, Option<f64>)],
    target: Option<f64>,
    width: u32,
    height: u32,
    title: &str,
) -> String {
    let values: Vec<f64> = points
        .iter()
        .filter_map(|(_, v)| *v)
        .chain(target)
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let (lo, hi) = if values.is_empty() {
        (0.0, 1.0)
    } else if (hi - lo).abs() < f64::EPSILON {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let pad = 4.0;
    let (w, h) = (f64::from(width), f64::from(height));
    let x = |i: usize| {
        if points.len() <= 1 {
            w / 2.0
        } else {
            pad + (w - 2.0 * pad) * i as f64 / (points.len() - 1) as f64
        }
    };
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v - lo) / (hi - lo);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"trend\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">"
    );
    let described: Vec<String> = points
        .iter()
        .map(|(label, v)| match v {
            Some(v) => format!("{label}: {v:.1}"),
            None => format!("{label}: —"),
        })
        .collect();
    svg.push_str(&format!(
        "<title>{}</title>",
        esc(&format!("{title}. {}", described.join("; ")))
    ));
    if let Some(t) = target {
        svg.push_str(&format!(
            "<line class=\"target\" x1=\"{pad}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#8c959f\" stroke-dasharray=\"3 3\"/>",
            w - pad,
            y(t),
            y(t)
        ));
    }
    // One polyline per run of consecutive values.
    let mut run: Vec<String> = Vec::new();
    let flush = |run: &mut Vec<String>, svg: &mut String| {
        if run.len() > 1 {
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"#0b5cad\" stroke-width=\"2\" points=\"{}\"/>",
                run.join(" ")
            ));
        }
        run.clear();
    };
    for (i, (_, v)) in points.iter().enumerate() {
        match v {
            Some(v) => run.push(format!("{:.1},{:.1}", x(i), y(*v))),
            None => flush(&mut run, &mut svg),
        }
    }
    flush(&mut run, &mut svg);
    for (i, (_, v)) in points.iter().enumerate() {
        if let Some(v) = v {
            svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#0b5cad\"/>",
                x(i),
                y(*v)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trend_draws_values_and_the_target_and_describes_them_in_text() {
        let points = vec![
            ("2025-S2".to_string(), Some(80.0)),
            ("2026-S1".to_string(), None),
            ("2026-S2".to_string(), Some(90.0)),
        ];
        let svg = trend(&points, Some(85.0), 160, 40, "Índice <de> satisfacción");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("class=\"target\""));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("2026-S1: —"));
        assert!(svg.contains("Índice &lt;de&gt; satisfacción"));
        assert!(!svg.contains("<polyline"), "a gap breaks the line");
    }
}
