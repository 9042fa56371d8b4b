//! Kafka Connect `Decimal`: a big-endian two's-complement unscaled integer and a scale.

/// The plain decimal text (like Java's `BigDecimal.toPlainString`) of `unscaled × 10^-scale`,
/// or `None` for empty bytes.
pub(crate) fn to_string(unscaled: &[u8], scale: i32) -> Option<String> {
    let (negative, digits) = unscaled_digits(unscaled)?;
    let mut out = String::with_capacity(digits.len() + 3);
    if negative {
        out.push('-');
    }
    let scale = scale as i64;
    if digits == "0" {
        out.push('0');
        if scale > 0 {
            out.push('.');
            out.extend(std::iter::repeat_n('0', scale as usize));
        }
    } else if scale <= 0 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
    } else {
        let scale = scale as usize;
        if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', scale - digits.len()));
            out.push_str(&digits);
        }
    }
    Some(out)
}

/// Sign and decimal digits of the magnitude of a two's-complement big-endian integer.
fn unscaled_digits(bytes: &[u8]) -> Option<(bool, String)> {
    let &first = bytes.first()?;
    let negative = first & 0x80 != 0;
    if bytes.len() <= 16 {
        let mut value: i128 = if negative { -1 } else { 0 };
        for &b in bytes {
            value = (value << 8) | i128::from(b);
        }
        return Some((negative, value.unsigned_abs().to_string()));
    }
    // Magnitude: negate two's complement (invert, add one).
    let mut magnitude: Vec<u8> = if negative {
        let mut m: Vec<u8> = bytes.iter().map(|b| !b).collect();
        for byte in m.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                break;
            }
        }
        m
    } else {
        bytes.to_vec()
    };
    // Repeated long division by 10^9, collecting base-10^9 chunks from the least significant.
    const CHUNK: u64 = 1_000_000_000;
    let mut chunks = Vec::new();
    while magnitude.iter().any(|&b| b != 0) {
        let mut remainder = 0u64;
        for byte in magnitude.iter_mut() {
            let current = (remainder << 8) | u64::from(*byte);
            *byte = (current / CHUNK) as u8;
            remainder = current % CHUNK;
        }
        chunks.push(remainder as u32);
    }
    let mut digits = chunks.pop().map_or_else(|| "0".to_owned(), |c| c.to_string());
    for chunk in chunks.iter().rev() {
        digits.push_str(&format!("{chunk:09}"));
    }
    Some((negative, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values() {
        assert_eq!(to_string(&[0x04, 0xD2], 2).as_deref(), Some("12.34"));
        assert_eq!(to_string(&[0xFB, 0x2E], 2).as_deref(), Some("-12.34"));
        assert_eq!(to_string(&[0x05], 3).as_deref(), Some("0.005"));
        assert_eq!(to_string(&[0xFB], 3).as_deref(), Some("-0.005"));
        assert_eq!(to_string(&[0x00], 2).as_deref(), Some("0.00"));
        assert_eq!(to_string(&[0x7F], 0).as_deref(), Some("127"));
        assert_eq!(to_string(&[0x80], 0).as_deref(), Some("-128"));
        assert_eq!(to_string(&[0x0C], -2).as_deref(), Some("1200"));
        assert_eq!(to_string(&[], 2), None);
    }

    #[test]
    fn large_values() {
        // 2^135 and -2^135 take 18 bytes.
        let mut big = vec![0u8; 18];
        big[0] = 0x00;
        big[1] = 0x80;
        let two_pow_135 = "43556142965880123323311949751266331066368";
        assert_eq!(to_string(&big, 0).as_deref(), Some(two_pow_135));
        let mut neg = vec![0u8; 18];
        neg[0] = 0xFF;
        neg[1] = 0x80;
        assert_eq!(to_string(&neg, 0).map(|s| s.len()), Some(two_pow_135.len() + 1));
        assert_eq!(to_string(&neg, 0).unwrap(), format!("-{two_pow_135}"));
        assert_eq!(to_string(&big, 40).as_deref(), Some("4.3556142965880123323311949751266331066368"));
        // The same value through both paths.
        let mut padded = vec![0u8; 15];
        padded.extend_from_slice(&[0x04, 0xD2]);
        assert_eq!(to_string(&padded, 2).as_deref(), Some("12.34"));
        let mut padded = vec![0xFFu8; 15];
        padded.extend_from_slice(&[0xFB, 0x2E]);
        assert_eq!(to_string(&padded, 2).as_deref(), Some("-12.34"));
    }
}
