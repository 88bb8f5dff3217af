//! The metrics file: one row per epoch, CSV or JSON. The row is one
//! serialisable struct, so both formats come from one list of fields.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::train::EpochReport;

/// One epoch's figures as a metrics file holds them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricsRow {
    pub epoch: usize,
    pub eta: f64,
    /// Wall time of the epoch, training and evaluation.
    pub seconds: f64,
    pub test_correct: usize,
    pub test_total: usize,
    pub test_accuracy: f64,
    pub training_cost: Option<f64>,
    pub training_accuracy: Option<f64>,
    pub validation_cost: Option<f64>,
    pub validation_accuracy: Option<f64>,
}

impl From<&EpochReport> for MetricsRow {
    fn from(r: &EpochReport) -> Self {
        let accuracy = |x: Option<(usize, usize)>| x.map(|(c, t)| c as f64 / t.max(1) as f64);
        MetricsRow {
            epoch: r.epoch,
            eta: r.eta,
            // Milliseconds are all a row can vouch for.
            seconds: (r.seconds * 1000.0).round() / 1000.0,
            test_correct: r.correct,
            test_total: r.total,
            test_accuracy: r.accuracy(),
            training_cost: r.training_cost,
            training_accuracy: accuracy(r.training_accuracy),
            validation_cost: r.validation_cost,
            validation_accuracy: accuracy(r.validation_accuracy),
        }
    }
}

/// Whether `path` names a JSON metrics file (else CSV); None if it ends in
/// neither .json nor .csv.
pub fn is_json(path: &Path) -> Option<bool> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext.eq_ignore_ascii_case("json") {
        Some(true)
    } else if ext.eq_ignore_ascii_case("csv") {
        Some(false)
    } else {
        None
    }
}

/// Refuses, before any work, to replace an existing file at `path` that is
/// not a metrics file: a model named by mistake, say.
pub fn check_replaceable(path: &Path) -> Result<()> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let mut start = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, 64), &mut start)
        .map_err(|e| Error::io(path, e))?;
    let start = String::from_utf8_lossy(&start);
    let start = start.trim_start();
    let ours = start.is_empty()
        || start.starts_with("epoch,")
        || start.strip_prefix('[').is_some_and(|rest| {
            let rest = rest.trim_start();
            let row = rest.strip_prefix('{').map(str::trim_start);
            rest.is_empty()
                || rest.starts_with(']')
                || row.is_some_and(|r| r.starts_with("\"epoch\""))
        });
    if ours {
        Ok(())
    } else {
        Err(Error::invalid(
            path,
            "exists and is not a metrics file; --metrics will not replace it (name another file)",
        ))
    }
}

/// The rows as a JSON array, or as CSV with a header of the field names;
/// an absent figure is null, or an empty CSV field.
pub fn render(rows: &[MetricsRow], json: bool) -> Result<String> {
    let invalid = |e: serde_json::Error| Error::Usage(format!("metrics: {e}"));
    if json {
        return Ok(serde_json::to_string_pretty(rows).map_err(invalid)? + "\n");
    }
    let mut text = String::new();
    for (i, row) in rows.iter().enumerate() {
        let serde_json::Value::Object(fields) = serde_json::to_value(row).map_err(invalid)? else {
            continue;
        };
        if i == 0 {
            text += &fields.keys().cloned().collect::<Vec<_>>().join(",");
            text.push('\n');
        }
        let values: Vec<String> = fields
            .values()
            .map(|v| match v {
                serde_json::Value::Null => String::new(),
                v => v.to_string(),
            })
            .collect();
        text += &values.join(",");
        text.push('\n');
    }
    Ok(text)
}

/// Every epoch's figures so far, written whole (atomically), so an
/// interrupted run keeps its rows.
pub fn write(path: &Path, history: &[EpochReport]) -> Result<()> {
    let json = is_json(path).unwrap_or(false);
    let rows: Vec<MetricsRow> = history.iter().map(MetricsRow::from).collect();
    crate::files::write_atomically(path, render(&rows, json)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(epoch: usize, validation: Option<(usize, usize)>) -> EpochReport {
        EpochReport {
            epoch,
            epochs: 2,
            correct: 9000 + epoch,
            total: 10_000,
            eta: 3.0,
            seconds: 0.0625,
            validation_accuracy: validation,
            ..EpochReport::default()
        }
    }

    #[test]
    fn csv_and_json_carry_the_same_fields() {
        let rows: Vec<MetricsRow> = [report(1, None), report(2, Some((9500, 10_000)))]
            .iter()
            .map(MetricsRow::from)
            .collect();
        let csv = render(&rows, false).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "epoch,eta,seconds,test_correct,test_total,test_accuracy,training_cost,training_accuracy,validation_cost,validation_accuracy"
        );
        assert_eq!(lines[1], "1,3.0,0.063,9001,10000,0.9001,,,,");
        assert_eq!(lines[2], "2,3.0,0.063,9002,10000,0.9002,,,,0.95");
        let json: serde_json::Value = serde_json::from_str(&render(&rows, true).unwrap()).unwrap();
        assert_eq!(json[1]["validation_accuracy"], 0.95);
        assert!(json[0]["validation_accuracy"].is_null());
        assert_eq!(json[0]["test_correct"], 9001);
    }
}
