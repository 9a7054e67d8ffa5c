//! Numbers as the document writes them for people.

/// `1 KiB`, `512 bytes`.
pub fn size(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// `1,000`, `100`.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `24 hours`, `10 minutes`, `30 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        ms if ms >= 3_600_000 && ms.is_multiple_of(3_600_000) => {
            format!("{} hours", ms / 3_600_000)
        }
        ms if ms >= 60_000 && ms.is_multiple_of(60_000) => format!("{} minutes", ms / 60_000),
        ms => format!("{} s", ms as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(size(1024), "1 KiB");
        assert_eq!(size(512), "512 bytes");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(100), "100");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(duration(24 * 3_600_000), "24 hours");
        assert_eq!(duration(600_000), "10 minutes");
    }
}
