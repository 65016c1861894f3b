//! The query language: one parser here, compiled by each backend (tantivy
//! queries on the embedded store, the bool query DSL on Elasticsearch).
//!
//! ```text
//! query    := or
//! or       := and ("OR" and)*
//! and      := unary (["AND"] unary)*          (juxtaposition is AND)
//! unary    := ("NOT" | "-") unary | primary
//! primary  := "(" or ")" | field | "phrase" | word | prefix*
//! field    := name (":" | ":" cmp | cmp) (value | "(" or-of-values ")")
//! cmp      := ">=" | ">" | "<=" | "<" | "="
//! name     := level | service | source | trace_id | pattern_id | id
//!           | message | metadata.<dotted.path>
//! ```
//!
//! Words and phrases match `message`, case-insensitively, as its index splits
//! it (runs of letters and digits). `AND`, `OR` and `NOT` are operators only
//! in capitals. A token whose name before `:` is not a field (`user:42`,
//! `http://x`) is an ordinary word.

use std::fmt;
use std::ops::Bound;

use crate::level::Level;
use crate::search::{words, MetadataFilter, MAX_QUERY_BYTES, MAX_QUERY_WORDS, MAX_WORD_BYTES};
use crate::FieldError;

/// A parsed query. It hashes (a typed cache key of the stores).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Expr {
    /// Every log.
    #[default]
    All,
    Leaf(Leaf),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// One condition on one field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Leaf {
    /// A word of `message` as the user typed it; the backend splits it as
    /// the index does (a word that splits in several is a phrase).
    Word(String),
    /// Words next to each other in this order.
    Phrase(String),
    /// A word of `message` starting with this (lower-case letters and digits).
    Prefix(String),
    /// One of these levels.
    Levels(Vec<Level>),
    /// A keyword field equal to the value (exact, case-sensitive).
    Term { field: Keyword, value: String },
    /// A keyword field starting with the value.
    TermPrefix { field: Keyword, prefix: String },
    /// A metadata leaf equal to the value.
    Metadata(MetadataFilter),
    /// A numeric metadata leaf within the range.
    MetadataRange { path: String, range: NumRange },
}

/// Fields matched whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    Service,
    Source,
    TraceId,
    PatternId,
    Id,
}

impl Keyword {
    /// The name in the query language (and in the logs).
    pub fn name(self) -> &'static str {
        match self {
            Keyword::Service => "service",
            Keyword::Source => "source",
            Keyword::TraceId => "trace_id",
            Keyword::PatternId => "pattern_id",
            Keyword::Id => "id",
        }
    }
}

/// Bounds on a number. The bounds are finite (the parser refuses others),
/// so equality is an equivalence and the range hashes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumRange {
    pub lower: Bound<f64>,
    pub upper: Bound<f64>,
}

impl Eq for NumRange {}

impl std::hash::Hash for NumRange {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for bound in [self.lower, self.upper] {
            // `+ 0.0` makes -0.0 and 0.0 (equal numbers) hash alike.
            let (kind, value) = match bound {
                Bound::Included(x) => (0u8, (x + 0.0).to_bits()),
                Bound::Excluded(x) => (1, (x + 0.0).to_bits()),
                Bound::Unbounded => (2, 0),
            };
            kind.hash(state);
            value.hash(state);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => ":",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldName {
    Message,
    Level,
    Keyword(Keyword),
    Metadata(String),
}

impl FieldName {
    fn parse(name: &str) -> Option<FieldName> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_str() {
            "message" | "msg" => FieldName::Message,
            "level" => FieldName::Level,
            "service" => FieldName::Keyword(Keyword::Service),
            "source" => FieldName::Keyword(Keyword::Source),
            "trace_id" => FieldName::Keyword(Keyword::TraceId),
            "pattern_id" => FieldName::Keyword(Keyword::PatternId),
            "id" => FieldName::Keyword(Keyword::Id),
            _ => {
                // The path keeps its case: metadata keys are case-sensitive.
                let path = name
                    .get(..9)
                    .filter(|p| p.eq_ignore_ascii_case("metadata."))?;
                let path = &name[path.len()..];
                if path.is_empty() || path.split('.').any(str::is_empty) {
                    return None;
                }
                FieldName::Metadata(path.to_string())
            }
        })
    }

    fn shown(&self) -> String {
        match self {
            FieldName::Message => "message".into(),
            FieldName::Level => "level".into(),
            FieldName::Keyword(k) => k.name().into(),
            FieldName::Metadata(p) => format!("metadata.{p}"),
        }
    }
}

/// Why a query could not be parsed: where (1-based column, in characters)
/// and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl From<QueryError> for FieldError {
    fn from(e: QueryError) -> FieldError {
        FieldError::new("query", "invalid_query", e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Phrase(String),
    Bare(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based column, in characters.
    column: usize,
    /// Whether whitespace comes right before it.
    spaced: bool,
}

fn lex(input: &str) -> Result<(Vec<Token>, usize), QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut spaced = true;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            spaced = true;
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '"' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(QueryError {
                                column,
                                message: "expected a closing '\"' for the phrase opened here"
                                    .into(),
                            })
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('"') | Some('\\')) => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::Phrase(text)
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | '"')
                {
                    i += 1;
                }
                Tok::Bare(chars[start..i].iter().collect())
            }
        };
        out.push(Token {
            tok,
            column,
            spaced,
        });
        spaced = false;
    }
    Ok((out, chars.len() + 1))
}

/// Deepest nesting of parentheses and NOTs.
pub const MAX_DEPTH: usize = 32;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end_column: usize,
    depth: usize,
    /// Words and leaves so far (bounded by MAX_QUERY_WORDS).
    words: usize,
}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        column,
        message: message.into(),
    })
}

fn describe(t: Option<&Token>) -> String {
    match t.map(|t| &t.tok) {
        None => "the end of the query".into(),
        Some(Tok::LParen) => "'('".into(),
        Some(Tok::RParen) => "')'".into(),
        Some(Tok::Phrase(p)) => format!("\"{p}\""),
        Some(Tok::Bare(b)) => format!("'{b}'"),
    }
}

fn is_operator(t: Option<&Token>, op: &str) -> bool {
    matches!(t.map(|t| &t.tok), Some(Tok::Bare(b)) if b == op)
}

/// An operand before folding: `None` is a word with nothing searchable in
/// it (only punctuation), which an AND drops.
type Operand = Option<Expr>;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn column(&self) -> usize {
        self.peek().map_or(self.end_column, |t| t.column)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn count(&mut self, column: usize, n: usize) -> Result<(), QueryError> {
        self.words += n;
        if self.words > MAX_QUERY_WORDS {
            return err(
                column,
                format!("the query holds more than {MAX_QUERY_WORDS} words and conditions; the limit is {MAX_QUERY_WORDS}"),
            );
        }
        Ok(())
    }

    fn nest(&mut self, column: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(column, format!("nested more than {MAX_DEPTH} deep"));
        }
        Ok(())
    }

    fn or(&mut self, field: Option<&FieldName>) -> Result<Operand, QueryError> {
        let column = self.column();
        let mut parts = vec![self.and(field)?];
        while is_operator(self.peek(), "OR") {
            self.next();
            parts.push(self.and(field)?);
        }
        if parts.len() == 1 {
            return Ok(parts.pop().expect("one"));
        }
        let mut out = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                Some(Expr::Or(inner)) => out.extend(inner),
                Some(e) => out.push(e),
                None => {
                    return err(
                        column,
                        "an alternative of OR holds nothing searchable (only punctuation)",
                    )
                }
            }
        }
        Ok(Some(Expr::Or(out)))
    }

    fn and(&mut self, field: Option<&FieldName>) -> Result<Operand, QueryError> {
        let mut parts = Vec::new();
        let column = self.column();
        loop {
            match self.peek() {
                None => break,
                Some(t) if t.tok == Tok::RParen => break,
                t if is_operator(t, "OR") => break,
                t if is_operator(t, "AND") => {
                    if parts.is_empty() {
                        return err(self.column(), "expected a term before AND");
                    }
                    self.next();
                    if self.peek().is_none()
                        || is_operator(self.peek(), "OR")
                        || self.peek().is_some_and(|t| t.tok == Tok::RParen)
                    {
                        return err(
                            self.column(),
                            format!("expected a term after AND, found {}", describe(self.peek())),
                        );
                    }
                }
                _ => parts.push(self.unary(field)?),
            }
        }
        if parts.is_empty() {
            return err(
                column,
                format!("expected a term, found {}", describe(self.peek())),
            );
        }
        Ok(match Expr::and(parts.into_iter().flatten()) {
            // Only punctuation, or only `*`.
            Expr::All => None,
            e => Some(e),
        })
    }

    fn unary(&mut self, field: Option<&FieldName>) -> Result<Operand, QueryError> {
        let column = self.column();
        if is_operator(self.peek(), "NOT") {
            self.next();
            return self.negate(column, field);
        }
        if let Some(Token {
            tok: Tok::Bare(b), ..
        }) = self.peek()
        {
            if b == "-" {
                self.next();
                if self.peek().is_none_or(|t| t.spaced) {
                    // A dash standing alone is punctuation, as in old queries.
                    return Ok(Some(Expr::All));
                }
                return self.negate(column, field);
            }
            // `-term`; a run of dashes (`---`) is punctuation.
            if let Some(rest) = b.strip_prefix('-').filter(|r| !r.starts_with('-')) {
                // `-term`: the rest of the token is the term.
                let rest = rest.to_string();
                self.tokens[self.pos].tok = Tok::Bare(rest);
                self.tokens[self.pos].column += 1;
                return self.negate(column, field);
            }
        }
        self.primary(field)
    }

    fn negate(&mut self, column: usize, field: Option<&FieldName>) -> Result<Operand, QueryError> {
        self.nest(column)?;
        let inner = self.unary(field)?;
        self.depth -= 1;
        match inner {
            Some(Expr::All) | None => err(column, "NOT needs something searchable after it"),
            Some(Expr::Not(inner)) => Ok(Some(*inner)),
            Some(e) => Ok(Some(Expr::Not(Box::new(e)))),
        }
    }

    fn group(&mut self, open: usize, field: Option<&FieldName>) -> Result<Operand, QueryError> {
        self.nest(open)?;
        if self.peek().is_some_and(|t| t.tok == Tok::RParen) {
            return err(
                self.column(),
                "expected a term inside the parentheses, found ')'",
            );
        }
        let inner = self.or(field)?;
        match self.next() {
            Some(Token {
                tok: Tok::RParen, ..
            }) => {}
            other => {
                return err(
                    other.as_ref().map_or(self.end_column, |t| t.column),
                    format!(
                        "expected ')' to close the '(' at column {open}, found {}",
                        describe(other.as_ref())
                    ),
                )
            }
        }
        self.depth -= 1;
        Ok(inner)
    }

    fn primary(&mut self, field: Option<&FieldName>) -> Result<Operand, QueryError> {
        let Some(token) = self.next() else {
            return err(
                self.end_column,
                "expected a term, found the end of the query",
            );
        };
        let column = token.column;
        match token.tok {
            Tok::RParen => err(column, "expected a term, found ')' with no '(' before it"),
            Tok::LParen => self.group(column, field),
            Tok::Phrase(text) => {
                let name = field.cloned().unwrap_or(FieldName::Message);
                self.value(column, &name, Cmp::Eq, &text, true).map(Some)
            }
            Tok::Bare(mut text) => {
                // `level >= WARNING`: a field name, then its operator apart.
                if FieldName::parse(&text).is_some() {
                    if let Some(Token {
                        tok: Tok::Bare(op), ..
                    }) = self.peek()
                    {
                        if op.starts_with([':', '<', '>', '=']) {
                            text = format!("{text}{op}");
                            self.next();
                        }
                    }
                }
                if let Some((name, cmp, value)) = split_field(&text) {
                    if let Some(outer) = field {
                        return err(
                            column,
                            format!(
                                "expected a value of {} inside its parentheses, found the field {}",
                                outer.shown(),
                                name.shown()
                            ),
                        );
                    }
                    let value_column = column + text.chars().count() - value.chars().count();
                    if !value.is_empty() {
                        if value.starts_with(['<', '>', '=', ':']) {
                            return err(
                                value_column,
                                format!(
                                    "expected a value after {}{}, found '{value}'",
                                    name.shown(),
                                    cmp.symbol()
                                ),
                            );
                        }
                        return self.value(value_column, &name, cmp, value, false).map(Some);
                    }
                    // The value is the next token: a phrase, a group, a word.
                    return match self.next() {
                        Some(Token {
                            tok: Tok::Phrase(p),
                            column,
                            ..
                        }) => self.value(column, &name, cmp, &p, true).map(Some),
                        Some(Token {
                            tok: Tok::LParen,
                            column: open,
                            ..
                        }) if cmp == Cmp::Eq => self.group(open, Some(&name)),
                        Some(Token {
                            tok: Tok::Bare(b),
                            column,
                            ..
                        }) if !matches!(b.as_str(), "AND" | "OR" | "NOT") => {
                            self.value(column, &name, cmp, &b, false).map(Some)
                        }
                        other => err(
                            other.as_ref().map_or(self.end_column, |t| t.column),
                            format!(
                                "expected a value after {}{}, found {}",
                                name.shown(),
                                cmp.symbol(),
                                describe(other.as_ref())
                            ),
                        ),
                    };
                }
                let name = field.cloned().unwrap_or(FieldName::Message);
                if text == "*" && field.is_none() {
                    return Ok(Some(Expr::All));
                }
                self.value(column, &name, Cmp::Eq, &text, false).map(Some)
            }
        }
    }

    /// A value of a field (message for bare words and phrases).
    fn value(
        &mut self,
        column: usize,
        field: &FieldName,
        cmp: Cmp,
        text: &str,
        quoted: bool,
    ) -> Result<Expr, QueryError> {
        let prefix = (!quoted).then(|| text.strip_suffix('*')).flatten();
        if !quoted {
            let stars = prefix.unwrap_or(text);
            if let Some(at) = stars.find('*') {
                return err(
                    column + stars[..at].chars().count(),
                    "'*' may only end a word (prefix*)",
                );
            }
        }
        if text.len() > MAX_WORD_BYTES && !matches!(field, FieldName::Message)
            || text.len() > MAX_QUERY_BYTES
        {
            return err(
                column,
                format!(
                    "the value is {} bytes; the limit is {MAX_WORD_BYTES}",
                    text.len()
                ),
            );
        }
        let leaf = match field {
            FieldName::Message => {
                if cmp != Cmp::Eq {
                    return err(
                        column,
                        "comparisons (<, >) apply to level and to numeric metadata, not to message",
                    );
                }
                let found: Vec<&str> = words(prefix.unwrap_or(text)).collect();
                if let Some(long) = found.iter().find(|w| w.len() > MAX_WORD_BYTES) {
                    let shown: String = long.chars().take(20).collect();
                    return err(column, format!("the word {shown:?}... is {} bytes; words longer than {MAX_WORD_BYTES} bytes are not indexed, so it cannot match", long.len()));
                }
                self.count(column, found.len().max(1))?;
                if found.is_empty() {
                    if prefix == Some("") {
                        return err(column, "expected letters or digits before '*'");
                    }
                    // Only punctuation: the index holds no such word.
                    return Ok(Expr::All);
                }
                match prefix {
                    Some(p) => {
                        if found.len() > 1 || found[0] != p {
                            return err(column, "a prefix* must be one word of letters and digits");
                        }
                        Leaf::Prefix(p.to_lowercase())
                    }
                    None if quoted => Leaf::Phrase(found.join(" ")),
                    None => Leaf::Word(text.to_string()),
                }
            }
            FieldName::Level => {
                self.count(column, 1)?;
                if prefix.is_some() {
                    return err(
                        column,
                        "expected a level (DEBUG, INFO, WARNING, ERROR, CRITICAL), not a prefix",
                    );
                }
                let level: Level = text.parse().map_err(|reason: String| QueryError {
                    column,
                    message: format!("expected a level: {reason}"),
                })?;
                let levels = Level::ALL
                    .into_iter()
                    .filter(|l| match cmp {
                        Cmp::Eq => *l == level,
                        Cmp::Gt => *l > level,
                        Cmp::Ge => *l >= level,
                        Cmp::Lt => *l < level,
                        Cmp::Le => *l <= level,
                    })
                    .collect();
                Leaf::Levels(levels)
            }
            FieldName::Keyword(k) => {
                self.count(column, 1)?;
                if cmp != Cmp::Eq {
                    return err(
                        column,
                        format!(
                            "comparisons (<, >) apply to level and to numeric metadata, not to {}",
                            k.name()
                        ),
                    );
                }
                if text.is_empty() {
                    return err(column, format!("expected a value of {}", k.name()));
                }
                match (k, prefix) {
                    (_, Some("")) => return err(column, "expected characters before '*'"),
                    (_, Some(p)) => Leaf::TermPrefix {
                        field: *k,
                        prefix: p.to_string(),
                    },
                    (Keyword::TraceId, None) => {
                        let value =
                            crate::search::parse_trace_id(text).map_err(|_| QueryError {
                                column,
                                message: "expected a trace id: 32 hexadecimal characters".into(),
                            })?;
                        Leaf::Term { field: *k, value }
                    }
                    (_, None) => Leaf::Term {
                        field: *k,
                        value: text.to_string(),
                    },
                }
            }
            FieldName::Metadata(path) => {
                self.count(column, 1)?;
                if cmp == Cmp::Eq {
                    if prefix.is_some() {
                        return err(
                            column,
                            "metadata values match whole; a prefix* is not supported there",
                        );
                    }
                    if text.is_empty() {
                        return err(column, format!("expected a value of metadata.{path}"));
                    }
                    Leaf::Metadata(MetadataFilter {
                        path: path.clone(),
                        value: text.to_string(),
                    })
                } else {
                    let n: f64 = text
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n: &f64| n.is_finite())
                        .ok_or_else(|| QueryError {
                            column,
                            message: format!(
                                "expected a number after metadata.{path}{}, found '{text}'",
                                cmp.symbol()
                            ),
                        })?;
                    let (lower, upper) = match cmp {
                        Cmp::Gt => (Bound::Excluded(n), Bound::Unbounded),
                        Cmp::Ge => (Bound::Included(n), Bound::Unbounded),
                        Cmp::Lt => (Bound::Unbounded, Bound::Excluded(n)),
                        Cmp::Le => (Bound::Unbounded, Bound::Included(n)),
                        Cmp::Eq => unreachable!("handled above"),
                    };
                    Leaf::MetadataRange {
                        path: path.clone(),
                        range: NumRange { lower, upper },
                    }
                }
            }
        };
        Ok(Expr::Leaf(leaf))
    }
}

/// `name:value`, `name>=value`, `name:>=value`... when `name` is a field.
fn split_field(text: &str) -> Option<(FieldName, Cmp, &str)> {
    let at = text.find([':', '<', '>', '='])?;
    let name = FieldName::parse(&text[..at])?;
    let rest = &text[at..];
    let rest = rest
        .strip_prefix(':')
        .filter(|r| r.starts_with(['<', '>', '=']))
        .unwrap_or(rest);
    for (symbol, cmp) in [
        (">=", Cmp::Ge),
        ("<=", Cmp::Le),
        (">", Cmp::Gt),
        ("<", Cmp::Lt),
        ("=", Cmp::Eq),
        (":", Cmp::Eq),
    ] {
        if let Some(value) = rest.strip_prefix(symbol) {
            return Some((name, cmp, value));
        }
    }
    None
}

impl Expr {
    /// Parses a query; `Ok(Expr::All)` for a blank one. Errors name the
    /// column and what was expected there.
    pub fn parse(input: &str) -> Result<Expr, QueryError> {
        if input.len() > MAX_QUERY_BYTES {
            return err(
                1,
                format!(
                    "the query is {} bytes; the limit is {MAX_QUERY_BYTES}",
                    input.len()
                ),
            );
        }
        let (tokens, end_column) = lex(input)?;
        if tokens.is_empty() {
            return Ok(Expr::All);
        }
        let mut parser = Parser {
            tokens,
            pos: 0,
            end_column,
            depth: 0,
            words: 0,
        };
        let expr = parser.or(None)?;
        if let Some(t) = parser.peek() {
            let t = t.clone();
            return err(
                t.column,
                format!(
                    "expected an operator or the end of the query, found {}",
                    describe(Some(&t))
                ),
            );
        }
        match expr {
            Some(e) => Ok(e),
            None if input.contains('*') => Ok(Expr::All),
            None => err(1, "the query holds nothing searchable (only punctuation); leave it out to match every log"),
        }
    }

    /// Every condition of `parts` (dropping `All`s; `All` when none).
    pub fn and(parts: impl IntoIterator<Item = Expr>) -> Expr {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Expr::All => {}
                Expr::And(inner) => out.extend(inner),
                e => out.push(e),
            }
        }
        match out.len() {
            0 => Expr::All,
            1 => out.pop().expect("one"),
            _ => Expr::And(out),
        }
    }

    /// Whether any leaf satisfies `f`.
    pub fn any_leaf(&self, f: &mut impl FnMut(&Leaf) -> bool) -> bool {
        match self {
            Expr::All => false,
            Expr::Leaf(l) => f(l),
            Expr::And(v) | Expr::Or(v) => v.iter().any(|e| e.any_leaf(f)),
            Expr::Not(e) => e.any_leaf(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(e: &Expr) -> u64 {
        use std::hash::{BuildHasher, RandomState};
        // One hasher state for every call of this test run.
        static STATE: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        STATE.get_or_init(RandomState::new).hash_one(e)
    }

    #[test]
    fn equal_queries_hash_alike_and_different_ones_apart() {
        let parse = |q: &str| Expr::parse(q).unwrap();
        assert_eq!(parse("metadata.n>=0"), parse("metadata.n>=-0"));
        assert_eq!(
            hash_of(&parse("metadata.n>=0")),
            hash_of(&parse("metadata.n>=-0"))
        );
        assert_eq!(
            hash_of(&parse("error AND service:api")),
            hash_of(&parse("error AND service:api"))
        );
        for (a, b) in [
            ("metadata.n>=1", "metadata.n>1"),
            ("metadata.n>=1", "metadata.n<=1"),
            ("error", "\"error\""),
            ("service:api", "source:api"),
        ] {
            assert_ne!(parse(a), parse(b), "{a} / {b}");
            assert_ne!(hash_of(&parse(a)), hash_of(&parse(b)), "{a} / {b}");
        }
    }

    fn word(w: &str) -> Expr {
        Expr::Leaf(Leaf::Word(w.into()))
    }
    fn phrase(w: &str) -> Expr {
        Expr::Leaf(Leaf::Phrase(w.into()))
    }
    fn term(field: Keyword, v: &str) -> Expr {
        Expr::Leaf(Leaf::Term {
            field,
            value: v.into(),
        })
    }
    fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }
    fn p(q: &str) -> Expr {
        Expr::parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"))
    }
    fn bad(q: &str) -> QueryError {
        match Expr::parse(q) {
            Ok(e) => panic!("{q:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn words_phrases_and_implicit_and() {
        assert_eq!(p(""), Expr::All);
        assert_eq!(p("  "), Expr::All);
        assert_eq!(p("error"), word("error"));
        assert_eq!(
            p("db  timeout"),
            Expr::And(vec![word("db"), word("timeout")])
        );
        assert_eq!(p("\"Connection  Failed\""), phrase("Connection Failed"));
        assert_eq!(
            p("db AND \"a b\""),
            Expr::And(vec![word("db"), phrase("a b")])
        );
        // Old queries keep their meaning: words with punctuation inside,
        // colons that name no field.
        assert_eq!(
            p("user-42 10.0.0.1"),
            Expr::And(vec![word("user-42"), word("10.0.0.1")])
        );
        assert_eq!(
            p("user:42 http://x"),
            Expr::And(vec![word("user:42"), word("http://x")])
        );
        // Lower-case operators are words.
        assert_eq!(
            p("a or b"),
            Expr::And(vec![word("a"), word("or"), word("b")])
        );
        // Punctuation-only words drop out of an AND.
        assert_eq!(p("error ; ;"), word("error"));
        assert_eq!(p("\"say \\\"hi\\\"\""), phrase("say hi"));
    }

    #[test]
    fn boolean_operators_and_precedence() {
        assert_eq!(
            p("a OR b c"),
            Expr::Or(vec![word("a"), Expr::And(vec![word("b"), word("c")])])
        );
        assert_eq!(
            p("(a OR b) c"),
            Expr::And(vec![Expr::Or(vec![word("a"), word("b")]), word("c")])
        );
        assert_eq!(p("a -b"), Expr::And(vec![word("a"), not(word("b"))]));
        assert_eq!(p("a NOT b"), Expr::And(vec![word("a"), not(word("b"))]));
        assert_eq!(p("NOT NOT a"), word("a"));
        assert_eq!(p("-\"x y\""), not(phrase("x y")));
        assert_eq!(p("-(a OR b)"), not(Expr::Or(vec![word("a"), word("b")])));
        assert_eq!(
            p("a OR b OR c"),
            Expr::Or(vec![word("a"), word("b"), word("c")])
        );
        assert_eq!(p("((a))"), word("a"));
        assert_eq!(p("timeout*"), Expr::Leaf(Leaf::Prefix("timeout".into())));
        assert_eq!(p("Conn*"), Expr::Leaf(Leaf::Prefix("conn".into())));
        assert_eq!(p("*"), Expr::All);
    }

    #[test]
    fn fields_and_comparisons() {
        assert_eq!(p("service:pay"), term(Keyword::Service, "pay"));
        assert_eq!(p("SERVICE:Pay"), term(Keyword::Service, "Pay"));
        assert_eq!(p("service: \"my svc\""), term(Keyword::Service, "my svc"));
        assert_eq!(
            p("source:web-*"),
            Expr::Leaf(Leaf::TermPrefix {
                field: Keyword::Source,
                prefix: "web-".into()
            })
        );
        assert_eq!(
            p("service:(a OR b)"),
            Expr::Or(vec![
                term(Keyword::Service, "a"),
                term(Keyword::Service, "b")
            ])
        );
        assert_eq!(
            p("service:(a OR -b)"),
            Expr::Or(vec![
                term(Keyword::Service, "a"),
                not(term(Keyword::Service, "b"))
            ])
        );
        assert_eq!(p("level:err"), Expr::Leaf(Leaf::Levels(vec![Level::Error])));
        assert_eq!(
            p("level>=WARNING"),
            Expr::Leaf(Leaf::Levels(vec![
                Level::Warning,
                Level::Error,
                Level::Critical
            ]))
        );
        assert_eq!(
            p("level:<info"),
            Expr::Leaf(Leaf::Levels(vec![Level::Debug]))
        );
        assert_eq!(p("level > error"), p("level>error"));
        assert_eq!(
            p("trace_id:4BF92F3577B34DA6A3CE929D0E0E4736"),
            term(Keyword::TraceId, "4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            p("metadata.http.status>=500"),
            Expr::Leaf(Leaf::MetadataRange {
                path: "http.status".into(),
                range: NumRange {
                    lower: Bound::Included(500.0),
                    upper: Bound::Unbounded
                }
            })
        );
        assert_eq!(
            p("metadata.Index:logs-web"),
            Expr::Leaf(Leaf::Metadata(MetadataFilter {
                path: "Index".into(),
                value: "logs-web".into()
            }))
        );
        assert_eq!(p("message:\"a b\""), phrase("a b"));
        assert_eq!(
            p("-level:debug"),
            not(Expr::Leaf(Leaf::Levels(vec![Level::Debug])))
        );
    }

    #[test]
    fn errors_name_the_column_and_what_was_expected() {
        let e = bad("a \"open");
        assert_eq!(e.column, 3, "{e}");
        assert!(e.message.contains("closing '\"'"), "{e}");
        let e = bad("(a OR b");
        assert_eq!(e.column, 8, "{e}");
        assert!(e.message.contains("expected ')'"), "{e}");
        let e = bad("a OR");
        assert_eq!(e.column, 5, "{e}");
        assert!(e.message.contains("expected a term"), "{e}");
        let e = bad("level:loud");
        assert_eq!(e.column, 7, "{e}");
        assert!(e.message.contains("expected a level"), "{e}");
        let e = bad("metadata.status>=abc");
        assert_eq!(e.column, 18, "{e}");
        assert!(e.message.contains("expected a number"), "{e}");
        let e = bad("service>3");
        assert!(e.message.contains("comparisons"), "{e}");
        assert_eq!(bad("a )").column, 3);
        assert_eq!(bad("AND a").column, 1);
        assert_eq!(bad("a AND").column, 6);
        assert_eq!(bad("service:").column, 9);
        assert_eq!(bad("trace_id:xyz").column, 10);
        assert_eq!(bad("a*b").column, 2);
        assert_eq!(
            p("a - b --- c"),
            Expr::And(vec![word("a"), word("b"), word("c")])
        );
        assert_eq!(bad("()").column, 2);
        assert!(bad(";;").message.contains("nothing searchable"));
        assert!(bad("a OR ;").message.contains("only punctuation"));
        assert!(bad(&"(".repeat(40)).message.contains("nested"));
        assert!(bad(&"w ".repeat(65)).message.contains("64"));
        assert!(bad(&"x".repeat(5000)).message.contains("4096"));
        assert!(bad(&"x".repeat(300)).message.contains("not indexed"));
        assert!(bad("service:(a service:b)")
            .message
            .contains("inside its parentheses"));
    }

    /// Any input either parses or names a column inside it (or just past
    /// its end); the parser never panics.
    #[test]
    fn never_panics_and_columns_stay_in_the_input() {
        use proptest::prelude::*;
        let alphabet = prop::collection::vec(
            prop::sample::select(vec![
                "a",
                "B",
                " ",
                "(",
                ")",
                "\"",
                "-",
                "*",
                ":",
                ">=",
                "<",
                "OR",
                "AND",
                "NOT",
                "level",
                "service",
                "metadata.x",
                "5",
                "é",
                "\\",
            ]),
            0..30,
        );
        proptest!(|(parts in alphabet)| {
            let q: String = parts.concat();
            if let Err(e) = Expr::parse(&q) {
                prop_assert!(e.column >= 1 && e.column <= q.chars().count() + 1, "{q:?}: {e}");
            }
        });
    }
}
