//! Wildcard patterns and policy variables.
//!
//! Strings in Action, Resource and condition values are split once, at parse time, into literal
//! text, `*`/`?` wildcards and `${...}` variables. Patterns without variables are lowered to a
//! [`Glob`] right away, and the common shapes (`*`, an exact string, `prefix*`) skip the general
//! matcher. Patterns with variables keep their parts and are lowered per request, because the
//! values come from the request context.

use crate::context::Context;

/// One piece of a policy string.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Part {
    /// Literal text; `${*}`, `${?}` and `${$}` land here as plain characters.
    Lit(Box<str>),
    Star,
    One,
    Var(Var),
}

/// A `${key}` or `${key, 'default'}` reference.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Var {
    /// Lowercase, because context keys are case-insensitive.
    pub(crate) key: Box<str>,
    /// As written, for `context_keys` and missing-key reports.
    pub(crate) name: Box<str>,
    pub(crate) default: Option<Box<str>>,
}

impl Var {
    fn resolve<'a>(&'a self, context: &'a Context) -> Option<&'a str> {
        context.variable(&self.key).or(self.default.as_deref())
    }
}

/// How wildcards behave, which differs between policy elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Action names: case-insensitive, wildcards match anything.
    Action,
    /// `StringLike`: case-sensitive, wildcards match anything.
    Like,
    /// Resource ARNs: a `*` stays inside its colon-delimited segment unless it is the last
    /// character of the segment ("IAM JSON policy elements: Resource"), and `?` never matches
    /// the `:` that separates segments.
    Resource,
    /// `ArnLike`/`ArnEquals`: each of the six ARN components is matched on its own, so wildcards
    /// in the first five cannot cross a colon; the last (resource) component may contain colons.
    Arn,
}

/// A matcher token; `S` is owned for compiled patterns and borrowed for per-request ones.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok<S> {
    Lit(S),
    /// Zero or more characters; `colon` says whether `:` is among them.
    Run {
        colon: bool,
    },
    /// Exactly one character; `colon` says whether it may be `:`.
    Char {
        colon: bool,
    },
}

/// Splits `text` into parts. Without `variables` (Version 2008-10-17, or an element that does
/// not take them) `${` is literal text; without `wildcards` `*` and `?` are literal.
pub(crate) fn split(text: &str, variables: bool, wildcards: bool) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if variables
            && rest.starts_with("${")
            && let Some((inner, after)) = variable_body(&rest[2..])
        {
            match inner {
                "*" | "?" | "$" => lit.push_str(inner),
                _ => match parse_var(inner) {
                    Some(var) => {
                        flush(&mut parts, &mut lit);
                        parts.push(Part::Var(var));
                    }
                    None => lit.push_str(&rest[..rest.len() - after.len()]),
                },
            }
            rest = after;
            continue;
        }
        match c {
            '*' if wildcards => {
                flush(&mut parts, &mut lit);
                parts.push(Part::Star);
            }
            '?' if wildcards => {
                flush(&mut parts, &mut lit);
                parts.push(Part::One);
            }
            _ => lit.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut parts, &mut lit);
    parts
}

fn flush(parts: &mut Vec<Part>, lit: &mut String) {
    if !lit.is_empty() {
        parts.push(Part::Lit(std::mem::take(lit).into_boxed_str()));
    }
}

/// Finds the `}` that closes a variable, skipping braces inside a quoted default. Returns the
/// text between the braces and what follows the closing brace.
fn variable_body(after_open: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in after_open.char_indices() {
        match c {
            // A doubled quote inside a default toggles twice, which leaves `quoted` unchanged.
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some((&after_open[..i], &after_open[i + 1..])),
            _ => {}
        }
    }
    None
}

/// `key` or `key, 'default'`; anything else is not a variable and stays literal text.
fn parse_var(inner: &str) -> Option<Var> {
    let (name, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((name, default)) => {
            let quoted = default.trim().strip_prefix('\'')?.strip_suffix('\'')?;
            (
                name.trim(),
                Some(quoted.replace("''", "'").into_boxed_str()),
            )
        }
    };
    if name.is_empty() || name.contains(['\'', '$', '{']) {
        return None;
    }
    Some(Var {
        key: name.to_lowercase().into_boxed_str(),
        name: name.into(),
        default,
    })
}

/// A pattern with no variables left, lowered for one flavor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Glob {
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
    General(Box<[Tok<Box<str>>]>),
}

impl Glob {
    pub(crate) fn matches(&self, text: &str, flavor: Flavor) -> bool {
        let fold = flavor == Flavor::Action;
        match self {
            Glob::Any => true,
            Glob::Exact(s) => eq_bytes(text.as_bytes(), s.as_bytes(), fold),
            Glob::Prefix(s) => {
                text.len() >= s.len() && eq_bytes(&text.as_bytes()[..s.len()], s.as_bytes(), fold)
            }
            Glob::General(toks) => arn_shaped(text, flavor) && glob_match(toks, text, fold),
        }
    }
}

/// A compiled Resource, `StringLike` or ARN pattern.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Pattern {
    Static(Glob),
    Template(Box<[Part]>),
}

impl Pattern {
    pub(crate) fn compile(text: &str, flavor: Flavor, variables: bool) -> Pattern {
        let parts = split(text, variables, true);
        if parts.iter().any(|p| matches!(p, Part::Var(_))) {
            return Pattern::Template(parts.into_boxed_slice());
        }
        Pattern::Static(static_glob(&parts, flavor))
    }

    pub(crate) fn matches(&self, text: &str, flavor: Flavor, context: &Context) -> bool {
        match self {
            Pattern::Static(glob) => glob.matches(text, flavor),
            Pattern::Template(parts) => {
                let resolved = lower(parts, flavor, |part| match part {
                    Part::Lit(s) => Some(&**s),
                    Part::Var(var) => var.resolve(context),
                    Part::Star | Part::One => None,
                });
                // An unresolvable variable without a default makes the pattern match nothing.
                resolved.is_some_and(|toks| {
                    arn_shaped(text, flavor) && glob_match(&toks, text, flavor == Flavor::Action)
                })
            }
        }
    }

    /// Variables this pattern needs, for missing-key reports.
    pub(crate) fn vars(&self) -> impl Iterator<Item = &Var> {
        let parts: &[Part] = match self {
            Pattern::Static(_) => &[],
            Pattern::Template(parts) => parts,
        };
        parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            _ => None,
        })
    }
}

/// ARN operators compare six components, so a value that is not an ARN cannot match a pattern
/// that is more than a bare `*` (which lowers to [`Glob::Any`] and never gets here).
fn arn_shaped(text: &str, flavor: Flavor) -> bool {
    flavor != Flavor::Arn || text.bytes().filter(|&b| b == b':').count() >= 5
}

/// Turns parts into matcher tokens. `text_of` yields a literal's (or a resolved variable's)
/// text, or `None` when a variable cannot be resolved, which fails the whole lowering.
fn lower<'p, S: AsRef<str>>(
    parts: &'p [Part],
    flavor: Flavor,
    text_of: impl Fn(&'p Part) -> Option<S>,
) -> Option<Vec<Tok<S>>> {
    // ArnLike's lone `*` means "any ARN", although a `*` in the first component cannot
    // otherwise cross a colon.
    if flavor == Flavor::Arn && parts == [Part::Star] {
        return Some(vec![Tok::Run { colon: true }]);
    }
    let mut toks = Vec::with_capacity(parts.len());
    let mut colons = 0usize;
    for (i, part) in parts.iter().enumerate() {
        let (colon_run, colon_char) = match flavor {
            Flavor::Action | Flavor::Like => (true, true),
            Flavor::Resource => {
                let segment_end = match parts.get(i + 1) {
                    None => true,
                    Some(Part::Lit(s)) => s.starts_with(':'),
                    Some(_) => false,
                };
                (segment_end, false)
            }
            Flavor::Arn => (colons >= 5, colons >= 5),
        };
        match part {
            Part::Star => toks.push(Tok::Run { colon: colon_run }),
            Part::One => toks.push(Tok::Char { colon: colon_char }),
            Part::Lit(_) | Part::Var(_) => {
                let text = text_of(part)?;
                colons += text.as_ref().bytes().filter(|&b| b == b':').count();
                if !text.as_ref().is_empty() {
                    toks.push(Tok::Lit(text));
                }
            }
        }
    }
    Some(toks)
}

/// Compiles an Action or NotAction entry; actions take no variables.
pub(crate) fn action_glob(text: &str) -> Glob {
    let parts: Vec<Part> = split(&text.to_ascii_lowercase(), false, true);
    static_glob(&parts, Flavor::Action)
}

/// Lowers parts that hold no variables (the caller checked) into a classified glob.
fn static_glob(parts: &[Part], flavor: Flavor) -> Glob {
    let toks = lower(parts, flavor, |part| match part {
        Part::Lit(s) => Some(s.clone()),
        _ => None,
    });
    classify(toks.unwrap_or_default())
}

fn classify(toks: Vec<Tok<Box<str>>>) -> Glob {
    match toks.as_slice() {
        [] => Glob::Exact("".into()),
        [Tok::Run { colon: true }] => Glob::Any,
        [Tok::Lit(s)] => Glob::Exact(s.clone()),
        [Tok::Lit(s), Tok::Run { colon: true }] => Glob::Prefix(s.clone()),
        _ => Glob::General(toks.into_boxed_slice()),
    }
}

fn eq_bytes(text: &[u8], pattern: &[u8], fold: bool) -> bool {
    if fold {
        text.len() == pattern.len()
            && text
                .iter()
                .zip(pattern)
                .all(|(t, p)| t.to_ascii_lowercase() == *p)
    } else {
        text == pattern
    }
}

/// Texts up to this many bytes are matched with a stack buffer.
const STACK_TEXT: usize = 256;

/// Glob matching by dynamic programming over text positions: `reach[i]` says whether the tokens
/// seen so far can consume exactly `text[..i]`. Linear in tokens × text, so hostile patterns
/// like `a*a*a*a*b` cannot make it backtrack exponentially.
fn glob_match<S: AsRef<str>>(toks: &[Tok<S>], text: &str, fold: bool) -> bool {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut stack = [false; STACK_TEXT + 1];
    let mut heap = Vec::new();
    let reach: &mut [bool] = if n <= STACK_TEXT {
        &mut stack[..=n]
    } else {
        heap.resize(n + 1, false);
        &mut heap
    };
    reach[0] = true;
    for tok in toks {
        match tok {
            Tok::Lit(s) => {
                let lit = s.as_ref().as_bytes();
                let l = lit.len();
                // Descending, so each step reads values from before this token.
                for i in (0..=n).rev() {
                    reach[i] = i >= l && reach[i - l] && eq_bytes(&bytes[i - l..i], lit, fold);
                }
            }
            Tok::Run { colon } => {
                for i in 1..=n {
                    if !reach[i] && reach[i - 1] && (*colon || bytes[i - 1] != b':') {
                        reach[i] = true;
                    }
                }
            }
            Tok::Char { colon } => {
                for i in (0..=n).rev() {
                    reach[i] = text.is_char_boundary(i)
                        && text[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| reach[i - c.len_utf8()] && (*colon || c != ':'));
                }
            }
        }
    }
    reach[n]
}

/// A condition value for the equality operators: no wildcards, maybe variables.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Text {
    Static(Box<str>),
    Template(Box<[Part]>),
}

impl Text {
    pub(crate) fn compile(text: &str, variables: bool) -> Text {
        let parts = split(text, variables, false);
        if parts.iter().any(|p| matches!(p, Part::Var(_))) {
            Text::Template(parts.into_boxed_slice())
        } else {
            // Escapes such as `${$}` were already applied by `split`.
            let joined: String = parts
                .iter()
                .filter_map(|p| match p {
                    Part::Lit(s) => Some(&**s),
                    _ => None,
                })
                .collect();
            Text::Static(joined.into_boxed_str())
        }
    }

    /// Compares without building the substituted string.
    pub(crate) fn equals(&self, text: &str, ignore_case: bool, context: &Context) -> bool {
        let parts = match self {
            Text::Static(s) => {
                return if ignore_case {
                    eq_ignore_case([&**s].into_iter(), text)
                } else {
                    **s == *text
                };
            }
            Text::Template(parts) => parts,
        };
        if parts.iter().any(|p| piece(p, context).is_none()) {
            return false;
        }
        let pieces = parts.iter().filter_map(|p| piece(p, context));
        if ignore_case {
            eq_ignore_case(pieces, text)
        } else {
            pieces.flat_map(str::bytes).eq(text.bytes())
        }
    }

    pub(crate) fn vars(&self) -> impl Iterator<Item = &Var> {
        let parts: &[Part] = match self {
            Text::Static(_) => &[],
            Text::Template(parts) => parts,
        };
        parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            _ => None,
        })
    }
}

/// The text a part of an equality value stands for; `None` for an unresolvable variable.
fn piece<'a>(part: &'a Part, context: &'a Context) -> Option<&'a str> {
    match part {
        Part::Lit(s) => Some(s),
        Part::Var(v) => v.resolve(context),
        Part::Star | Part::One => None,
    }
}

fn eq_ignore_case<'a>(pieces: impl Iterator<Item = &'a str>, text: &str) -> bool {
    pieces
        .flat_map(str::chars)
        .flat_map(char::to_lowercase)
        .eq(text.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, flavor: Flavor, text: &str) -> bool {
        Pattern::compile(pattern, flavor, true).matches(text, flavor, &Context::new())
    }

    #[test]
    fn classifies_common_shapes() {
        let c = |p| match Pattern::compile(p, Flavor::Resource, true) {
            Pattern::Static(g) => g,
            Pattern::Template(_) => panic!("template"),
        };
        assert_eq!(c("*"), Glob::Any);
        assert_eq!(c("arn:aws:s3:::b"), Glob::Exact("arn:aws:s3:::b".into()));
        assert_eq!(
            c("arn:aws:s3:::b/*"),
            Glob::Prefix("arn:aws:s3:::b/".into())
        );
        assert!(matches!(c("arn:aws:s3:::*/x"), Glob::General(_)));
    }

    #[test]
    fn resource_wildcards_respect_segments() {
        let f = Flavor::Resource;
        assert!(m(
            "arn:aws:s3:::bucket/*/test/*",
            f,
            "arn:aws:s3:::bucket/1/2/test/3/o.jpg"
        ));
        assert!(!m(
            "arn:aws:s3:::bucket/*/test/*",
            f,
            "arn:aws:s3:::bucket/1-test/o.jpg"
        ));
        // A `*` that ends its segment may run past colons.
        assert!(m(
            "arn:aws:iam::*:user/x",
            f,
            "arn:aws:iam::123456789012:user/x"
        ));
        assert!(m(
            "arn:aws:logs:*",
            f,
            "arn:aws:logs:us-east-1:1:log-group:g"
        ));
        // One inside a segment may not.
        assert!(!m(
            "arn:aws:logs:us-east-1:1:log-group:a*z",
            f,
            "arn:aws:logs:us-east-1:1:log-group:a:z"
        ));
        assert!(m(
            "arn:aws:logs:us-east-1:1:log-group:a*z",
            f,
            "arn:aws:logs:us-east-1:1:log-group:a-z"
        ));
        assert!(!m("arn:aws:s3:::a?b", f, "arn:aws:s3:::a:b"));
        assert!(m("arn:aws:s3:::a?b", f, "arn:aws:s3:::a/b"));
        // Case-sensitive.
        assert!(!m("arn:aws:iam::1:user/Bob", f, "arn:aws:iam::1:user/bob"));
    }

    #[test]
    fn arn_flavor_matches_component_wise() {
        let f = Flavor::Arn;
        assert!(m("arn:aws:iam::*:role/*", f, "arn:aws:iam::123:role/a:b"));
        assert!(!m("arn:aws:*:role/x", f, "arn:aws:iam::1:role/x"));
        assert!(!m("arn:aws:iam::*:*", f, "not-an-arn"));
        assert!(m("*", f, "anything"));
    }

    #[test]
    fn actions_fold_case_and_like_does_not() {
        let a = |p, t| action_glob(p).matches(t, Flavor::Action);
        assert!(a("iam:Create*", "IAM:createuser"));
        assert!(a("iam:?etUser", "iam:GetUser"));
        assert!(a("IAM:*User*", "iam:getuserpolicy"));
        assert!(!a("iam:Get*", "iam:ListUsers"));
        assert!(!m("Ab*", Flavor::Like, "ab"));
        assert!(m("a*b?c", Flavor::Like, "a:b:::bxc"));
        assert!(m("é?", Flavor::Like, "éü"));
        assert!(!m("é?", Flavor::Like, "éüx"));
    }

    #[test]
    fn variables_escapes_and_defaults() {
        let mut ctx = Context::new();
        ctx.insert("aws:username", "alice");
        let p = Pattern::compile(
            "arn:aws:iam::1:user/${aws:UserName}",
            Flavor::Resource,
            true,
        );
        assert!(p.matches("arn:aws:iam::1:user/alice", Flavor::Resource, &ctx));
        assert!(!p.matches(
            "arn:aws:iam::1:user/alice",
            Flavor::Resource,
            &Context::new()
        ));
        let d = Pattern::compile("x/${aws:PrincipalTag/t, 'no''ne'}", Flavor::Like, true);
        assert!(d.matches("x/no'ne", Flavor::Like, &ctx));
        let e = Pattern::compile("a${*}b${?}${$}", Flavor::Like, true);
        assert!(e.matches("a*b?$", Flavor::Like, &ctx));
        assert!(!e.matches("axb?$", Flavor::Like, &ctx));
        let literal = Pattern::compile("u/${aws:username}", Flavor::Like, false);
        assert!(literal.matches("u/${aws:username}", Flavor::Like, &ctx));
        assert!(!literal.matches("u/alice", Flavor::Like, &ctx));
        // Malformed references stay literal.
        assert_eq!(split("${", true, true), vec![Part::Lit("${".into())]);
        assert_eq!(
            split("${a, b}", true, true),
            vec![Part::Lit("${a, b}".into())]
        );
        assert_eq!(split("${a,'}'}x", true, false).len(), 2);
    }

    #[test]
    fn text_equality_with_variables() {
        let mut ctx = Context::new();
        ctx.insert("aws:username", "Alice");
        let t = Text::compile("team-${aws:username}-*", true);
        assert!(t.equals("team-Alice-*", false, &ctx));
        assert!(!t.equals("team-alice-*", false, &ctx));
        assert!(t.equals("TEAM-alice-*", true, &ctx));
        assert!(!t.equals("team-Alice-*", false, &Context::new()));
    }

    #[test]
    fn long_texts_use_the_heap_buffer() {
        let text = format!("arn:aws:s3:::b/{}x", "a".repeat(1000));
        assert!(m("arn:aws:s3:::b/*a?", Flavor::Resource, &text));
        assert!(!m("arn:aws:s3:::b/*b?", Flavor::Resource, &text));
    }
}
