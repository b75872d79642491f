//! Nova's `scheduler/filters/extra_specs_ops.py`: a host's capability
//! against a flavor extra spec's requirement, which is either a value to
//! equal or an operator and its operands:
//!
//! | requirement | matches when the capability |
//! |---|---|
//! | `= N` | is at least N (numbers) |
//! | `== N`, `!= N`, `>= N`, `<= N` | compares so with N (numbers) |
//! | `s== S`, `s!= S`, `s< S`, `s<= S`, `s> S`, `s>= S` | compares so with S (strings) |
//! | `<in> S` | contains S |
//! | `<all-in> S T ...` | contains each of S, T, ... |
//! | `<or> A <or> B ...` | is one of A, B, ... |
//! | anything else | is the whole requirement |
//!
//! Where Nova would raise (a number that is not one), the host does not match.

/// Whether capability `value` (as text) meets `req`.
pub fn matches(value: &str, req: &str) -> bool {
    let mut words = req.split_whitespace();
    let op = words.next();
    let operands: Vec<&str> = words.collect();
    let Some(op) = op.filter(|op| is_operator(op)) else {
        return value == req;
    };
    if op == "<or>" {
        return operands.iter().step_by(2).any(|w| *w == value);
    }
    let Some(first) = operands.first().copied() else {
        return false;
    };
    let numbers = || {
        Some((
            value.trim().parse::<f64>().ok()?,
            first.parse::<f64>().ok()?,
        ))
    };
    match op {
        "=" | ">=" => numbers().is_some_and(|(x, y)| x >= y),
        "==" => numbers().is_some_and(|(x, y)| x == y),
        "!=" => numbers().is_some_and(|(x, y)| x != y),
        "<=" => numbers().is_some_and(|(x, y)| x <= y),
        "<in>" => value.contains(first),
        "<all-in>" => operands.iter().all(|w| value.contains(w)),
        "s==" => value == first,
        "s!=" => value != first,
        "s<" => value < first,
        "s<=" => value <= first,
        "s>" => value > first,
        "s>=" => value >= first,
        _ => false,
    }
}

fn is_operator(word: &str) -> bool {
    matches!(
        word,
        "=" | "<in>"
            | "<all-in>"
            | "=="
            | "!="
            | ">="
            | "<="
            | "s=="
            | "s!="
            | "s<"
            | "s<="
            | "s>"
            | "s>="
            | "<or>"
    )
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn requirements_match_as_novas_extra_specs_ops() {
        let cases: &[(&str, &str, bool)] = &[
            ("1", "1", true),
            ("1", "2", false),
            ("fake", "fake", true),
            ("123", "= 123", true),
            ("124", "= 123", true),
            ("122", "= 123", false),
            ("123.0", "== 123", true),
            ("12", "!= 123", true),
            ("12", ">= 13", false),
            ("12", "<= 13", true),
            ("abc", "= 1", false),
            ("kvm", "s== kvm", true),
            ("qemu", "s!= kvm", true),
            ("a", "s< b", true),
            ("b", "s<= a", false),
            ("b", "s> a", true),
            ("b", "s>= c", false),
            ("x86_64 sse4 avx", "<in> avx", true),
            ("x86_64", "<in> avx", false),
            ("sse avx aes", "<all-in> aes avx", true),
            ("sse avx", "<all-in> aes avx", false),
            ("b", "<or> a <or> b <or> c", true),
            ("d", "<or> a <or> b <or> c", false),
            ("<or>", "<or> a <or> b", false),
            ("3", "=", false),
            ("", "", true),
        ];
        for (value, req, want) in cases {
            assert_eq!(matches(value, req), *want, "{value:?} against {req:?}");
        }
    }
}
