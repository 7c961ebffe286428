//! Property tests of the formula parser: printing and re-parsing, robustness on any input, and the
//! expansion of crossed terms.

use proptest::prelude::*;
use rx_core::Error;
use rx_core::formula::{Formula, Term};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// Space between tokens: none, some, or odd whitespace.
fn space() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " ", " ", "  ", "\t", "\n "])
}

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "b", "c", "d", "x.1", "_z", ".w", "`my var`", "`a:b`", "`.`", "F", "log",
    ])
}

fn number() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "0",
        "1",
        "2",
        "10",
        "0.5",
        ".25",
        "1e-3",
        "2.5E10",
        "3.",
        "1e+2",
        "123456789.125",
    ])
}

fn function() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["log", "log10", "log2", "exp", "sqrt", "abs"])
}

/// Arithmetic text, as inside `I(...)`.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        name().prop_map(String::from),
        number().prop_map(String::from)
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                space(),
                prop::sample::select(vec!["+", "-", "*", "/", "^"]),
                space(),
                inner.clone()
            )
                .prop_map(|(a, s1, op, s2, b)| format!("{a}{s1}{op}{s2}{b}")),
            (space(), inner.clone(), space()).prop_map(|(s1, e, s2)| format!("({s1}{e}{s2})")),
            inner.clone().prop_map(|e| format!("-{e}")),
            (function(), space(), inner).prop_map(|(f, s, e)| format!("{f}({s}{e})")),
        ]
    })
}

/// A variable: a column, `F(...)`, `N(...)`, `I(...)` or a function of an expression.
fn var() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => name().prop_map(String::from),
        1 => name().prop_map(|n| format!("F({n})")),
        1 => (name(), -3i32..3, 0i32..5).prop_map(|(n, lo, d)| format!("F({n}, {lo}, {})", lo + d)),
        1 => name().prop_map(|n| format!("N( {n} )")),
        1 => expr().prop_map(|e| format!("I({e})")),
        1 => (function(), expr()).prop_map(|(f, e)| format!("{f}({e})")),
    ]
}

/// Terms without subtraction: `+`, `:`, `*`, `/`, parentheses and powers.
fn terms() -> impl Strategy<Value = String> {
    var().prop_recursive(4, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                space(),
                prop::sample::select(vec!["+", ":", "*", "/"]),
                space(),
                inner.clone()
            )
                .prop_map(|(a, s1, op, s2, b)| format!("{a}{s1}{op}{s2}{b}")),
            inner.clone().prop_map(|t| format!("({t})")),
            (inner, 1u32..4).prop_map(|(t, k)| format!("({t})^{k}")),
        ]
    })
}

/// A whole formula that is valid by construction.
fn formula() -> impl Strategy<Value = String> {
    (
        prop::option::of(var()),
        prop::sample::select(vec!["", "0 + ", "-1 + ", "1 + "]),
        any::<bool>(),
        terms(),
        prop::collection::vec((any::<bool>(), terms()), 0..3),
        prop::sample::select(vec!["", " - 1", " + 0", " + 1", " - 0"]),
    )
        .prop_map(|(response, prefix, dot, first, more, suffix)| {
            let mut text = String::new();
            if let Some(r) = response {
                text.push_str(&r);
                text.push(' ');
            }
            text.push_str("~ ");
            text.push_str(prefix);
            if dot {
                text.push_str(". + ");
            }
            text.push_str(&first);
            for (minus, t) in more {
                // Columns cannot be removed from `.`, so with a dot every part is added.
                text.push_str(if minus && !dot { " - " } else { " + " });
                text.push_str(&t);
            }
            text.push_str(suffix);
            text
        })
}

/// Checks that a parsed formula prints as text that parses to the same formula.
fn check_round_trip(f: &Formula) -> Result<(), TestCaseError> {
    let shown = f.to_string();
    let again = Formula::parse(&shown)
        .map_err(|e| TestCaseError::fail(format!("{shown:?} does not parse: {e}")))?;
    prop_assert_eq!(
        &Formula {
            text: f.text.clone(),
            ..again
        },
        f,
        "shown as {:?}",
        shown
    );
    // Printing is stable.
    prop_assert_eq!(Formula::parse(&shown).unwrap().to_string(), shown);
    Ok(())
}

/// Checks what any input gives: a formula that round-trips, or a formula error at a valid place.
fn check_any(text: &str) -> Result<(), TestCaseError> {
    match Formula::parse(text) {
        Ok(f) => check_round_trip(&f),
        Err(Error::Formula {
            formula,
            position,
            message,
        }) => {
            prop_assert_eq!(&formula, text);
            prop_assert!(
                position <= text.len() && text.is_char_boundary(position),
                "position {}",
                position
            );
            prop_assert!(!message.is_empty());
            let shown = Error::Formula {
                formula,
                position,
                message,
            }
            .to_string();
            prop_assert!(shown.contains('^'));
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!("not a formula error: {e}"))),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_formulas_print_and_parse_back(text in formula()) {
        let f = Formula::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?} does not parse: {e}")))?;
        check_round_trip(&f)?;
    }

    #[test]
    fn any_string_parses_or_fails_cleanly(text in any::<String>()) {
        check_any(&text)?;
    }

    #[test]
    fn formula_like_strings_parse_or_fail_cleanly(text in "[abyFINlog01.~+*/:^(), `é\\-]{0,40}") {
        check_any(&text)?;
    }

    #[test]
    fn damaged_formulas_parse_or_fail_cleanly(
        text in formula(),
        cut in any::<prop::sample::Index>(),
        insert in prop::sample::select(vec!["", "(", ")", "~", "+", "é", "`", ",", "^", "2", "."]),
    ) {
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let damaged = format!("{}{insert}{}", &text[..at], &text[at..].chars().skip(1).collect::<String>());
        check_any(&damaged)?;
    }

    #[test]
    fn three_way_crossing_expands_in_r_order(
        names in prop::collection::hash_set("[a-z][a-z0-9_.]{0,5}", 3),
        s in space(),
    ) {
        let [a, b, c]: [String; 3] = names.into_iter().collect::<Vec<_>>().try_into().unwrap();
        let f = Formula::parse(&format!("y ~ {a}{s}*{s}{b}{s}*{s}{c}")).unwrap();
        let got: Vec<String> = f.terms.iter().map(Term::name).collect();
        let want = [
            a.clone(),
            b.clone(),
            c.clone(),
            format!("{a}:{b}"),
            format!("{a}:{c}"),
            format!("{b}:{c}"),
            format!("{a}:{b}:{c}"),
        ];
        prop_assert_eq!(got, want);
        prop_assert!(f.intercept);
    }
}

#[test]
fn a_times_b_times_c_has_seven_terms() {
    let f = Formula::parse("y ~ a*b*c").unwrap();
    let got: Vec<String> = f.terms.iter().map(Term::name).collect();
    assert_eq!(got, ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]);
}

// --- offsets ------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// A formula with offsets added anywhere prints them after the terms and parses back equal.
    #[test]
    fn formulas_with_offsets_print_and_parse_back(
        text in formula(),
        offsets in prop::collection::vec(expr(), 1..3),
        front in any::<bool>(),
    ) {
        let extra: Vec<String> = offsets.iter().map(|e| format!("offset({e})")).collect();
        let (lhs, rhs) = text.split_once('~').unwrap();
        // A leading `-1` must stay first: `+ -1` is not a formula.
        let with = if front && !rhs.trim_start().starts_with('-') {
            format!("{lhs}~ {} + {rhs}", extra.join(" + "))
        } else {
            format!("{text} + {}", extra.join(" + "))
        };
        let f = Formula::parse(&with).map_err(|e| TestCaseError::fail(format!("{with:?} does not parse: {e}")))?;
        prop_assert!(!f.offsets.is_empty() && f.offsets.len() <= offsets.len());
        let plain = Formula::parse(&text).unwrap();
        prop_assert_eq!(&f.terms, &plain.terms);
        prop_assert_eq!(f.intercept, plain.intercept);
        check_round_trip(&f)?;
        for o in &f.offsets {
            for c in o.columns() {
                prop_assert!(f.columns().contains(&c));
            }
        }
    }
}

#[test]
fn offset_is_a_term_like_call() {
    let f = Formula::parse("Claims ~ District + Group + Age + offset(log(Holders))").unwrap();
    let got: Vec<String> = f.terms.iter().map(Term::name).collect();
    assert_eq!(got, ["District", "Group", "Age"]);
    assert_eq!(f.offsets.len(), 1);
    assert_eq!(f.offsets[0].to_string(), "log(Holders)");
    assert_eq!(
        f.columns(),
        ["Claims", "District", "Group", "Age", "Holders"]
    );
    assert_eq!(
        f.to_string(),
        "Claims ~ District + Group + Age + offset(log(Holders))"
    );
    assert!(f.intercept);
}

#[test]
fn offsets_are_kept_once_in_order_and_survive_dot_and_intercept_removal() {
    let f = Formula::parse("y ~ offset(b) + x + offset(a) + offset(b) - 1").unwrap();
    let shown: Vec<String> = f.offsets.iter().map(|o| o.to_string()).collect();
    assert_eq!(shown, ["b", "a"]);
    assert!(!f.intercept);
    assert_eq!(f.to_string(), "y ~ x + offset(b) + offset(a) - 1");
    let only = Formula::parse("y ~ offset(log(n))").unwrap();
    assert!(only.terms.is_empty() && only.intercept);
    assert_eq!(only.to_string(), "y ~ offset(log(n))");
    let dot = Formula::parse("y ~ . + offset(log(n))").unwrap();
    let expanded = dot.expand_dot(&["y".into(), "x".into(), "n".into()]);
    assert_eq!(expanded.offsets, dot.offsets);
    let got: Vec<String> = expanded.terms.iter().map(Term::name).collect();
    assert_eq!(
        got,
        ["x", "n"],
        "as in R, a column used by an offset is not excluded from `.`"
    );
    // `offset` without parentheses is an ordinary column.
    let col = Formula::parse("y ~ offset + x").unwrap();
    assert!(col.offsets.is_empty());
    assert_eq!(col.terms.len(), 2);
}

#[test]
fn offsets_deserialize_from_models_saved_without_them() {
    let f = Formula::parse("y ~ x").unwrap();
    let mut v = serde_json::to_value(&f).unwrap();
    v.as_object_mut().unwrap().remove("offsets");
    let back: Formula = serde_json::from_value(v).unwrap();
    assert_eq!(back, f);
}

#[test]
fn misplaced_offsets_are_positioned_errors() {
    let cases = [
        ("y ~ x - offset(z)", 8, "cannot be removed"),
        ("y ~ x:offset(z)", 6, "on its own"),
        ("y ~ offset(z)*x", 4, "on its own"),
        ("y ~ (x + offset(z))^2", 9, "on its own"),
        ("y ~ offset(a, b)", 4, "1 argument"),
        ("y ~ offset()", 4, "1 argument"),
        ("offset(y) ~ x", 0, "right side"),
        ("y ~ I(offset(z))", 6, "right side"),
        ("y ~ offset(z", 10, "never closed"),
    ];
    for (text, position, needle) in cases {
        match Formula::parse(text) {
            Err(Error::Formula {
                position: p,
                message,
                ..
            }) => {
                assert_eq!(p, position, "{text}: {message}");
                assert!(message.contains(needle), "{text}: {message}");
            }
            other => panic!("{text}: expected a formula error, got {other:?}"),
        }
    }
}
