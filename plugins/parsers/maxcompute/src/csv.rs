//! CSV lines into typed columns, as the connector's `CsvRecordConverter`: fields fill the
//! table's non-Kafka columns in table order, `\N` is NULL, and each field is converted to
//! its column's type (STRING as is, BIGINT/INT/SMALLINT/TINYINT as integers, DOUBLE/FLOAT
//! with `nan`/`inf`/`-inf`, BOOLEAN true when `true` in any case, DATETIME as
//! `yyyy-MM-dd HH:mm:ss` text that the sink reads in `time_zone`, DECIMAL as decimal text).

use sluice_plugin_sdk::{Column, PluginError, Value};

use crate::settings::{Config, TableColumn};

/// The columns of one CSV line, or the reason it does not fit the table.
pub fn columns(config: &Config, line: &str) -> Result<Vec<Column>, PluginError> {
    let fields = split(line, config.delimiter)?;
    if fields.len() != config.csv_columns.len() {
        let names: Vec<&str> = config.csv_columns.iter().map(|c| c.name.as_str()).collect();
        return Err(PluginError::new(
            "csv-field-count",
            format!(
                "the CSV line has {} fields but the table has {} columns besides topic/partition/offset ({})",
                fields.len(),
                names.len(),
                names.join(", ")
            ),
        ));
    }
    config
        .csv_columns
        .iter()
        .zip(fields)
        .map(|(column, field)| Ok(Column::new(column.name.clone(), convert(column, field)?)))
        .collect()
}

fn convert(column: &TableColumn, field: Field) -> Result<Value, PluginError> {
    if !field.quoted && field.text == "\\N" {
        return Ok(Value::Null);
    }
    let text = field.text;
    let misfit = |what: &str| {
        PluginError::new("csv-type", format!("CSV field {text:?} for column `{}` is not {what}", column.name))
            .with_field(column.name.clone())
    };
    Ok(match column.kind.as_str() {
        "string" | "varchar" | "char" | "json" => Value::Text(text),
        "binary" => Value::Binary(text.into_bytes()),
        "bigint" | "int" | "smallint" | "tinyint" => Value::Int64(text.parse().map_err(|_| misfit("a whole number"))?),
        "double" | "float" => Value::Float64(match text.to_ascii_lowercase().as_str() {
            "nan" => f64::NAN,
            "inf" | "infinity" | "+inf" => f64::INFINITY,
            "-inf" | "-infinity" => f64::NEG_INFINITY,
            _ => text.parse().map_err(|_| misfit("a number"))?,
        }),
        "boolean" => Value::Boolean(text.eq_ignore_ascii_case("true")),
        "datetime" if is_datetime(&text) => Value::Text(text),
        "datetime" => return Err(misfit("a yyyy-MM-dd HH:mm:ss date-time")),
        "decimal" if is_decimal(&text) => Value::Text(text),
        "decimal" => return Err(misfit("a decimal number")),
        other => {
            return Err(PluginError::new(
                "csv-type",
                format!("column `{}` has type {other}, which CSV fields cannot fill", column.name),
            )
            .with_field(column.name.clone()))
        }
    })
}

fn is_datetime(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

fn is_decimal(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// One CSV field and whether it was quoted (a quoted `\N` is text).
#[derive(Debug, PartialEq)]
struct Field {
    text: String,
    quoted: bool,
}

/// Splits one line: `"` quotes a field, `""` inside quotes is a quote.
fn split(line: &str, delimiter: char) -> Result<Vec<Field>, PluginError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut text = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        text.push('"');
                    }
                    Some('"') => break,
                    Some(c) => text.push(c),
                    None => return Err(PluginError::new("csv-syntax", "the CSV line ends inside a quoted field")),
                }
            }
            match chars.peek() {
                None => {}
                Some(c) if *c == delimiter => {}
                Some(c) => {
                    return Err(PluginError::new("csv-syntax", format!("unexpected {c:?} after a quoted CSV field")))
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c == delimiter {
                break;
            }
            text.push(c);
            chars.next();
        }
        fields.push(Field { text, quoted });
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Format, Mode};

    fn config(spec: &[(&str, &str)]) -> Config {
        Config {
            mode: Mode::Value,
            format: Format::Csv,
            delimiter: ',',
            csv_columns: spec.iter().map(|(n, k)| TableColumn { name: n.to_string(), kind: k.to_string() }).collect(),
        }
    }

    #[test]
    fn fields_are_typed_in_table_order() {
        let c = config(&[
            ("name", "string"),
            ("n", "bigint"),
            ("x", "double"),
            ("ok", "boolean"),
            ("d", "decimal"),
            ("at", "datetime"),
        ]);
        let cols = columns(&c, "\"a,b\",42,-inf,TRUE,1.50,2020-11-17 15:04:05").unwrap();
        let values: Vec<Value> = cols.into_iter().map(|c| c.value).collect();
        assert_eq!(values[0], Value::Text("a,b".into()));
        assert_eq!(values[1], Value::Int64(42));
        assert_eq!(values[2], Value::Float64(f64::NEG_INFINITY));
        assert_eq!(values[3], Value::Boolean(true));
        assert_eq!(values[4], Value::Text("1.50".into()));
        assert_eq!(values[5], Value::Text("2020-11-17 15:04:05".into()));
    }

    #[test]
    fn null_marker_and_mismatches() {
        let c = config(&[("name", "string"), ("n", "bigint")]);
        let cols = columns(&c, "\\N,\\N").unwrap();
        assert!(cols.iter().all(|c| c.value == Value::Null));
        assert_eq!(columns(&c, "\"\\N\",1").unwrap()[0].value, Value::Text("\\N".into()));
        assert_eq!(columns(&c, "a,b,c").unwrap_err().code, "csv-field-count");
        let e = columns(&c, "a,x").unwrap_err();
        assert_eq!((e.code.as_str(), e.field.as_deref()), ("csv-type", Some("n")));
        assert_eq!(columns(&c, "\"a\"\"b\",1").unwrap()[0].value, Value::Text("a\"b".into()));
        assert_eq!(split("", ',').unwrap().len(), 1);
    }
}
