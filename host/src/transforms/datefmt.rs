//! The part of Java's `SimpleDateFormat` that Kafka's `TimestampConverter` and
//! `TimestampRouter` patterns use, always in UTC (as those transforms set it).
//!
//! Pattern letters: `G` era, `y` year (`yy` two digits), `M`/`L` month (number, `MMM` short name,
//! `MMMM` full name), `d` day of month, `D` day of year, `E` day name, `u` day number (1 =
//! Monday), `a` AM/PM, `H` hour 0-23, `k` hour 1-24, `K` hour 0-11, `h` hour 1-12, `m` minute,
//! `s` second, `S` millisecond, `z` / `Z` / `X` time zone. Text in single quotes is literal and
//! `''` is a quote. Parsing is lenient like Java's (a 13th month rolls into the next year),
//! accepts text after the pattern, and takes exactly the letters' width for numbers that abut
//! another number (`yyyyMMdd`). Week-based letters (`Y`, `w`, `W`, `F`) are refused.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Field(char, usize),
}

/// A compiled `SimpleDateFormat` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JavaDateFormat {
    pattern: String,
    tokens: Vec<Token>,
}

fn is_numeric(letter: char, count: usize) -> bool {
    match letter {
        'M' | 'L' => count < 3,
        'y' | 'd' | 'D' | 'u' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' | 'S' => true,
        _ => false,
    }
}

impl JavaDateFormat {
    /// Compiles `pattern`; the error names the offending letter or quote.
    pub(crate) fn compile(pattern: &str) -> Result<Self, String> {
        let mut tokens: Vec<Token> = Vec::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut literal = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    literal.push('\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(format!("unterminated quote in pattern {pattern:?}")),
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            literal.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(other) => {
                            literal.push(*other);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
                continue;
            }
            if c.is_ascii_alphabetic() {
                match c {
                    'G' | 'y' | 'M' | 'L' | 'd' | 'D' | 'E' | 'u' | 'a' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' | 'S'
                    | 'z' | 'Z' | 'X' => {}
                    'Y' | 'w' | 'W' | 'F' => {
                        return Err(format!(
                            "pattern letter '{c}' (week-based fields) is valid in Java but not supported by sluice"
                        ))
                    }
                    _ => return Err(format!("illegal pattern character '{c}'")),
                }
                let mut count = 1;
                while chars.get(i + count) == Some(&c) {
                    count += 1;
                }
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Field(c, count));
                i += count;
                continue;
            }
            literal.push(c);
            i += 1;
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(JavaDateFormat { pattern: pattern.to_string(), tokens })
    }

    /// Formats milliseconds since the epoch, in UTC.
    pub(crate) fn format(&self, millis: i64) -> String {
        let Some(time) = DateTime::from_timestamp_millis(millis) else {
            return millis.to_string();
        };
        let time = time.naive_utc();
        let mut out = String::new();
        let pad = |out: &mut String, value: i64, width: usize| {
            let text = value.unsigned_abs().to_string();
            if value < 0 {
                out.push('-');
            }
            for _ in text.len()..width {
                out.push('0');
            }
            out.push_str(&text);
        };
        for token in &self.tokens {
            let (letter, count) = match token {
                Token::Literal(text) => {
                    out.push_str(text);
                    continue;
                }
                Token::Field(letter, count) => (*letter, *count),
            };
            let year = i64::from(time.year());
            let hour = i64::from(time.hour());
            match letter {
                'G' => out.push_str(if year > 0 { "AD" } else { "BC" }),
                'y' => {
                    let year_of_era = if year > 0 { year } else { 1 - year };
                    if count == 2 {
                        pad(&mut out, year_of_era % 100, 2);
                    } else {
                        pad(&mut out, year_of_era, count);
                    }
                }
                'M' | 'L' => {
                    let month = time.month() as usize;
                    match count {
                        1 | 2 => pad(&mut out, month as i64, count),
                        3 => out.push_str(&MONTHS[month - 1][..3]),
                        _ => out.push_str(MONTHS[month - 1]),
                    }
                }
                'd' => pad(&mut out, i64::from(time.day()), count),
                'D' => pad(&mut out, i64::from(time.ordinal()), count),
                'E' => {
                    let day = DAYS[time.weekday().num_days_from_monday() as usize];
                    out.push_str(if count >= 4 { day } else { &day[..3] });
                }
                'u' => pad(&mut out, i64::from(time.weekday().number_from_monday()), count),
                'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
                'H' => pad(&mut out, hour, count),
                'k' => pad(&mut out, if hour == 0 { 24 } else { hour }, count),
                'K' => pad(&mut out, hour % 12, count),
                'h' => pad(&mut out, if hour % 12 == 0 { 12 } else { hour % 12 }, count),
                'm' => pad(&mut out, i64::from(time.minute()), count),
                's' => pad(&mut out, i64::from(time.second()), count),
                'S' => pad(&mut out, i64::from(time.nanosecond() / 1_000_000), count),
                'z' => out.push_str(if count >= 4 { "Coordinated Universal Time" } else { "UTC" }),
                'Z' => out.push_str("+0000"),
                'X' => out.push('Z'),
                _ => unreachable!("compile admits only the letters above"),
            }
        }
        out
    }

    /// Parses `text` to milliseconds since the epoch (UTC unless the text names an offset).
    pub(crate) fn parse(&self, text: &str) -> Result<i64, String> {
        let fail = || format!("value ({text}) does not match pattern ({})", self.pattern);
        let mut rest = text;
        let (mut year, mut month, mut day, mut day_of_year) = (1970i64, 1i64, 1i64, None::<i64>);
        let (mut hour, mut hour12, mut pm) = (0i64, None::<i64>, None::<bool>);
        let (mut minute, mut second, mut milli, mut offset_minutes, mut bc) = (0i64, 0i64, 0i64, 0i64, false);
        for (index, token) in self.tokens.iter().enumerate() {
            let (letter, count) = match token {
                Token::Literal(literal) => {
                    rest = rest.strip_prefix(literal.as_str()).ok_or_else(fail)?;
                    continue;
                }
                Token::Field(letter, count) => (*letter, *count),
            };
            if is_numeric(letter, count) {
                let abutting = matches!(self.tokens.get(index + 1), Some(Token::Field(l, c)) if is_numeric(*l, *c));
                let available = rest.bytes().take_while(u8::is_ascii_digit).count();
                let width = if abutting { count.min(available) } else { available };
                if width == 0 || (abutting && width < count) {
                    return Err(fail());
                }
                let value: i64 = rest[..width].parse().map_err(|_| fail())?;
                rest = &rest[width..];
                match letter {
                    'y' => {
                        year = if count <= 2 && width == 2 { two_digit_year(value) } else { value };
                    }
                    'M' | 'L' => month = value,
                    'd' => day = value,
                    'D' => day_of_year = Some(value),
                    'u' => {}
                    'H' => hour = value,
                    'k' => hour = if value == 24 { 0 } else { value },
                    'K' => hour12 = Some(value),
                    'h' => hour12 = Some(if value == 12 { 0 } else { value }),
                    'm' => minute = value,
                    's' => second = value,
                    'S' => milli = value,
                    _ => unreachable!("numeric letters are listed in is_numeric"),
                }
                continue;
            }
            match letter {
                'M' | 'L' => {
                    let (index, len) = match_name(rest, &MONTHS).ok_or_else(fail)?;
                    month = index as i64 + 1;
                    rest = &rest[len..];
                }
                'E' => {
                    let (_, len) = match_name(rest, &DAYS).ok_or_else(fail)?;
                    rest = &rest[len..];
                }
                'G' => {
                    let (index, len) = match_name(rest, &["AD", "BC"]).ok_or_else(fail)?;
                    bc = index == 1;
                    rest = &rest[len..];
                }
                'a' => {
                    let (index, len) = match_name(rest, &["AM", "PM"]).ok_or_else(fail)?;
                    pm = Some(index == 1);
                    rest = &rest[len..];
                }
                'z' | 'Z' | 'X' => {
                    let (minutes, len) = parse_zone(rest).ok_or_else(fail)?;
                    offset_minutes = minutes;
                    rest = &rest[len..];
                }
                _ => unreachable!("compile admits only the letters above"),
            }
        }
        if bc {
            year = 1 - year;
        }
        // `a` only moves 12-hour letters (`h`, `K`); with `H` Java keeps the 24-hour value.
        if let Some(h) = hour12 {
            hour = h + if pm == Some(true) { 12 } else { 0 };
        }
        let date = match day_of_year {
            Some(ordinal) => NaiveDate::from_ymd_opt(year as i32, 1, 1)
                .and_then(|d| d.checked_add_signed(TimeDelta::try_days(ordinal - 1)?))
                .ok_or_else(fail)?,
            None => {
                // Lenient like Java: months and days past their range roll over.
                let months = year * 12 + (month - 1);
                let first = NaiveDate::from_ymd_opt(
                    i32::try_from(months.div_euclid(12)).map_err(|_| fail())?,
                    months.rem_euclid(12) as u32 + 1,
                    1,
                )
                .ok_or_else(fail)?;
                first.checked_add_signed(TimeDelta::try_days(day - 1).ok_or_else(fail)?).ok_or_else(fail)?
            }
        };
        let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(fail)?.and_utc().timestamp_millis();
        let within_day = ((hour * 60 + minute) * 60 + second) * 1000 + milli;
        Ok(midnight + within_day - offset_minutes * 60_000)
    }
}

/// A two-digit year in the 100 years starting 80 years ago (Java's default century).
fn two_digit_year(value: i64) -> i64 {
    let start = i64::from(chrono::Utc::now().year()) - 80;
    let century = start / 100 * 100;
    let year = century + value;
    if year < start {
        year + 100
    } else {
        year
    }
}

/// The longest full or three-letter name at the start of `text` (case-insensitive): its index
/// and byte length.
fn match_name(text: &str, names: &[&str]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (index, name) in names.iter().enumerate() {
        for candidate in [*name, &name[..name.len().min(3)]] {
            let len = candidate.len();
            if text.len() >= len
                && text.is_char_boundary(len)
                && text[..len].eq_ignore_ascii_case(candidate)
                && best.is_none_or(|(_, l)| len > l)
            {
                best = Some((index, len));
            }
        }
    }
    best
}

/// `Z`, `UTC`, `GMT`, `GMT+hh:mm`, `+hh:mm`, `+hhmm`, `+hh`: the offset in minutes and length.
fn parse_zone(text: &str) -> Option<(i64, usize)> {
    if text.starts_with('Z') {
        return Some((0, 1));
    }
    let (base, rest) = if text.starts_with("UTC") || text.starts_with("GMT") { (3, &text[3..]) } else { (0, text) };
    let sign = match rest.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ if base > 0 => return Some((0, base)),
        _ => return None,
    };
    let digits = &rest[1..];
    let hours_len = digits.bytes().take_while(u8::is_ascii_digit).count().min(2);
    if hours_len == 0 {
        return None;
    }
    let hours: i64 = digits[..hours_len].parse().ok()?;
    let mut len = base + 1 + hours_len;
    let mut after = &digits[hours_len..];
    let colon = after.starts_with(':');
    if colon {
        after = &after[1..];
    }
    let minutes_len = after.bytes().take_while(u8::is_ascii_digit).count();
    let minutes = if minutes_len >= 2 {
        len += 2 + usize::from(colon);
        after[..2].parse().ok()?
    } else {
        0
    };
    Some((sign * (hours * 60 + minutes), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_common_patterns() {
        // TimestampConverterTest's STRING_DATE_FMT and its 2017-01-01 00:00:01 fixture.
        let format = JavaDateFormat::compile("yyyy MM dd HH mm ss SSS z").unwrap();
        assert_eq!(format.format(1_483_228_801_000), "2017 01 01 00 00 01 000 UTC");
        let format = JavaDateFormat::compile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").unwrap();
        assert_eq!(format.format(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        let format = JavaDateFormat::compile("EEE, d MMM yy h:mm a ''Z''").unwrap();
        assert_eq!(format.format(1_700_000_000_123), "Tue, 14 Nov 23 10:13 PM '+0000'");
        let format = JavaDateFormat::compile("yyyyMMdd").unwrap();
        assert_eq!(format.format(0), "19700101");
    }

    #[test]
    fn parses_what_it_formats() {
        let format = JavaDateFormat::compile("yyyy MM dd HH mm ss SSS z").unwrap();
        assert_eq!(format.parse("2017 01 01 00 00 01 000 UTC"), Ok(1_483_228_801_000));
        let format = JavaDateFormat::compile("yyyyMMddHHmmss").unwrap();
        assert_eq!(format.parse("20170101000001"), Ok(1_483_228_801_000));
        let format = JavaDateFormat::compile("yyyy-MM-dd'T'HH:mm:ssXXX").unwrap();
        assert_eq!(format.parse("2017-01-01T02:00:01+02:00"), Ok(1_483_228_801_000));
        let format = JavaDateFormat::compile("dd MMMM yyyy").unwrap();
        assert_eq!(format.parse("01 january 2017"), Ok(1_483_228_800_000));
    }

    #[test]
    fn parse_is_lenient_like_java() {
        let format = JavaDateFormat::compile("yyyy-MM-dd").unwrap();
        // Month 13 of 2016 is January 2017; trailing text is ignored.
        assert_eq!(format.parse("2016-13-01"), Ok(1_483_228_800_000));
        assert_eq!(format.parse("2017-01-01 and more"), Ok(1_483_228_800_000));
        assert!(format.parse("2017/01/01").unwrap_err().contains("does not match pattern (yyyy-MM-dd)"));
    }

    #[test]
    fn refuses_unknown_letters() {
        assert!(JavaDateFormat::compile("yyyy-bb").unwrap_err().contains("'b'"));
        assert!(JavaDateFormat::compile("YYYY").unwrap_err().contains("not supported"));
        assert!(JavaDateFormat::compile("'open").unwrap_err().contains("quote"));
    }
}
