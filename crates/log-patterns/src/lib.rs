//! Message -> template + stable pattern id. Pure and cheap: it runs on every
//! ingested log.
//!
//! This first version masks the variable parts that are recognisable by their
//! shape, token by token:
//! - numbers, with or without a unit (`42`, `-3.5`, `120ms`, `5%`);
//! - hexadecimal ids (`0x1f`, `deadbeef42`), UUIDs, IPv4/IPv6 addresses with
//!   an optional port;
//! - any other word containing a digit (`user42`, `blk_-1608`, `/api/v1/7`),
//!   since such words are almost always identifiers, with two exceptions:
//!   a name with one digit glued to letters inside a word or in capitals
//!   (`jk2_init`, `SOCKS5`) is a word, and in a word built of parts at brackets or `::`
//!   (`AirPort_Brcm43xx::syncPowerState`, `WWEN[0x1f]`) only the parts
//!   with a digit are values;
//! - the value of a `key=value` pair (any value) or `key:value` pair (by its
//!   shape), keeping the key; a quoted value is one value, spaces and all
//!   (`tag="View Lock"`), and a bracket that closes one opened in a
//!   masked value is part of it (`ws=WorkSource{10113},` reads `ws=<*>,`);
//! - host names, dates (day and month names), booleans, paths (absolute,
//!   relative, Windows, and glued to a call: `open("<*>")`), URLs, e-mail
//!   addresses.
//!
//! Structured messages keep their text. The value of a message key
//! (`msg="disk full"`, `error=ENOENT`: the names structured loggers use) is
//! text, masked word by word. A message that is a JSON object reads as its
//! fields: keys stay, sorted; numbers, booleans and nulls are values;
//! strings are text masked by the rules here; a list of like items is one.
//!
//! A unit after a number joins it (`93.0 B`, `1 sec`), a comparison before a
//! number is part of it (`<1`), and a parenthesised aside holding only
//! values (`(1.16 KB)`, `()`) is dropped: such asides come and go with the
//! value they annotate.
//!
//! A quoted word is a value (`User 'bob' not found`), and so is a word
//! between escaped quotes inside a quoted message (`msg="user \"bob\""`
//! reads `msg="user <*>"`). A quoted run of
//! words is not one value (`"GET /a HTTP/1.1"` reads `"GET <*> <*>"`: its
//! first word names the event); its quotes are punctuation and each word
//! is masked by its shape. Masking a quoted run whole was left out: in
//! `logbench accuracy --cross-validate` it helped no dataset.
//!
//! Each masked part becomes `<*>`, and a run of them (a list of hosts, a
//! date in five words) one `<*>`: a list of any length is the same event.
//! A list of values between brackets keeps its brackets (`[<*>, <*>]` and
//! `[]` read `[<*>]`).
//! Whitespace runs become one space. The
//! pattern id is the 64-bit FNV-1a hash of the template, in hex: the same
//! message gives the same id on every replica and release.

/// The placeholder for a variable part.
pub const WILDCARD: &str = "<*>";

/// The masking rules, each on or off. The service always masks with
/// [`Rules::ALL`]; the others exist so that `logbench accuracy
/// --cross-validate` can leave rules out and see whether each one holds
/// on datasets it was not written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rules(u32);

impl Rules {
    /// A quoted word is one value (a quoted run of words is not).
    pub const QUOTED: Rules = Rules(1 << 10);
    /// A unit after a number joins the value (`93.0 B`).
    pub const UNITS: Rules = Rules(1);
    /// A parenthesised aside of values only is dropped.
    pub const ASIDES: Rules = Rules(1 << 1);
    /// `()` reads as `(<*>)`; `<1`, `>=5` are one value.
    pub const BRACKETS: Rules = Rules(1 << 2);
    /// The value of a `key=value` (any) or `key:value` (by shape) pair.
    pub const PAIRS: Rules = Rules(1 << 3);
    /// A word holding a digit is a value.
    pub const DIGITS: Rules = Rules(1 << 4);
    /// `true`, `false`.
    pub const BOOLEANS: Rules = Rules(1 << 5);
    /// Day and month names.
    pub const DATES: Rules = Rules(1 << 6);
    /// URLs and paths.
    pub const PATHS: Rules = Rules(1 << 7);
    /// E-mail addresses.
    pub const EMAILS: Rules = Rules(1 << 8);
    /// Lowercase dotted names (hosts, packages).
    pub const HOSTS: Rules = Rules(1 << 9);
    /// A run of values (`<*> <*>`, `<*>, <*>, <*>`) is one value: a list
    /// of any length is the same event.
    pub const LISTS: Rules = Rules(1 << 11);
    /// In a word built of parts (`AirPort_Brcm43xx::syncPowerState`,
    /// `jk2_init()`, `WWEN[0x1f]`), only the parts holding a digit are
    /// values; the word parts name the event. Only brackets and `::` part
    /// a word (`host12.example.com`, `Main.java:42` are one value).
    pub const PARTS: Rules = Rules(1 << 12);
    /// A name with a single digit (`SOCKS5`, `jk2_init`) is a word, not a
    /// value: the query-time merge masks it if it varies.
    pub const NAMES: Rules = Rules(1 << 13);
    /// The target of an HTTP request line (`"GET /v2/7/servers/detail`)
    /// keeps its word segments: they name the route.
    pub const ROUTES: Rules = Rules(1 << 14);
    /// The value of a message key (`msg="disk full"`, `error=ENOENT`) is
    /// text, masked word by word like the rest of the message: it names
    /// the event (logfmt's `msg`, `message`, `error`, `reason`, ...).
    pub const MESSAGES: Rules = Rules(1 << 15);
    /// A message that is a JSON object is read as its fields: keys stay
    /// (in sorted order), numbers, booleans and nulls are values, strings
    /// are text masked by the other rules.
    pub const JSON: Rules = Rules(1 << 16);
    /// Every rule: what the service masks with.
    pub const ALL: Rules = Rules((1 << 17) - 1);
    /// Each rule with its name.
    pub const EACH: [(&'static str, Rules); 17] = [
        ("quoted", Rules::QUOTED),
        ("units", Rules::UNITS),
        ("asides", Rules::ASIDES),
        ("brackets", Rules::BRACKETS),
        ("pairs", Rules::PAIRS),
        ("digits", Rules::DIGITS),
        ("booleans", Rules::BOOLEANS),
        ("dates", Rules::DATES),
        ("paths", Rules::PATHS),
        ("emails", Rules::EMAILS),
        ("hosts", Rules::HOSTS),
        ("lists", Rules::LISTS),
        ("parts", Rules::PARTS),
        ("names", Rules::NAMES),
        ("routes", Rules::ROUTES),
        ("messages", Rules::MESSAGES),
        ("json", Rules::JSON),
    ];

    pub fn has(self, rule: Rules) -> bool {
        self.0 & rule.0 == rule.0
    }

    /// No rule at all.
    pub const NONE: Rules = Rules(0);

    pub fn with(self, rule: Rules) -> Rules {
        Rules(self.0 | rule.0)
    }

    pub fn without(self, rule: Rules) -> Rules {
        Rules(self.0 & !rule.0)
    }

    /// The names of the rules left out of [`Rules::ALL`].
    pub fn left_out(self) -> Vec<&'static str> {
        Rules::EACH
            .iter()
            .filter(|(_, r)| !self.has(*r))
            .map(|(n, _)| *n)
            .collect()
    }
}

/// A message's template and its pattern id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub template: String,
    pub pattern_id: String,
}

/// Computes the template and pattern id of a message.
pub fn pattern_of(message: &str) -> Pattern {
    let template = template_of(message);
    let pattern_id = pattern_id_of(&template);
    Pattern {
        template,
        pattern_id,
    }
}

/// The stable id of a template: FNV-1a 64, as 16 lowercase hex digits.
pub fn pattern_id_of(template: &str) -> String {
    let hash = pattern_hash(template.as_bytes());
    let mut out = String::with_capacity(16);
    for shift in (0..16).rev() {
        let digit = ((hash >> (shift * 4)) & 0xf) as u8;
        out.push(char::from(if digit < 10 {
            b'0' + digit
        } else {
            b'a' + digit - 10
        }));
    }
    out
}

/// The number behind [`pattern_id_of`]: FNV-1a 64 of the template's bytes.
pub fn pattern_hash(template: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in template {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Masks the variable parts of a message (see the crate docs).
pub fn template_of(message: &str) -> String {
    template_of_with(message, Rules::ALL)
}

/// [`template_of`] with only some of the rules (for measuring them).
pub fn template_of_with(message: &str, rules: Rules) -> String {
    let mut rest = trim_end(trim_start(message));
    if rules.has(Rules::JSON) && rest.starts_with('{') && rest.ends_with('}') {
        if let Some(template) = json_template(rest, rules) {
            return template;
        }
    }
    let mut out = String::with_capacity(message.len());
    let mut previous = "";
    while !rest.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        // A quoted word is a value (`user 'alice'`). A quoted run of words
        // (a request line, a sentence) is not one value: its words may
        // name the event (`"GET /a HTTP/1.1"` reads `"GET <*> <*>"`), so
        // each is masked on its own.
        // An escaped quote (`\"bob\"`, in a quoted message) quotes too.
        let opening = match rest.as_bytes() {
            [b'"' | b'\'', ..] => Some(&rest[..1]),
            [b'\\', b'"' | b'\'', ..] => Some(&rest[..2]),
            _ => None,
        };
        if let Some(quote) = opening.filter(|_| rules.has(Rules::QUOTED)) {
            let inner = &rest[quote.len()..];
            let quoted = inner
                .find(quote)
                .filter(|&close| close > 0 && !inner[..close].contains(char::is_whitespace));
            if let Some(close) = quoted {
                let after = &inner[close + quote.len()..];
                // Only a quote that ends a word closes the string (not "don't").
                if after.is_empty()
                    || after.starts_with(|c: char| c.is_whitespace() || is_trailing_punct(c))
                {
                    out.push_str(WILDCARD);
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    out.push_str(&after[..end]);
                    rest = trim_start(&after[end..]);
                    continue;
                }
            }
        }
        let end = find_whitespace(rest).unwrap_or(rest.len());
        let word = &rest[..end];
        // A unit after a number is part of the value (`93.0 B`, `5.2 KB`,
        // `1 sec`): the value stays one `<*>`.
        // (`out` ends with the one space pushed above, if any.)
        let value_end = out.len() - usize::from(out.ends_with(' '));
        if rules.has(Rules::UNITS) && out[..value_end].ends_with(WILDCARD) && is_unit(word) {
            out.truncate(value_end);
            out.push_str(&word[word.trim_end_matches([',', ';', ')', '.']).len()..]);
        } else if word.starts_with('/') && rules.has(Rules::ROUTES) && follows_method(previous) {
            mask_route(word, &mut out, rules);
        } else {
            let before = out.len();
            // `key="a quoted value"`: the quoted string is the pair's
            // value, whatever it holds.
            if let Some(open) = mask_word(word, &mut out, rules) {
                if let Some((close, next)) = closing_quote(rest, end, rest.as_bytes()[open]) {
                    out.truncate(before);
                    out.push_str(&rest[..open + 1]);
                    out.push_str(WILDCARD);
                    out.push_str(&rest[close..next]);
                    previous = &rest[..next];
                    rest = trim_start(&rest[next..]);
                    continue;
                }
            }
        }
        previous = word;
        rest = trim_start(&rest[end..]);
    }
    if rules.has(Rules::ASIDES) && has_aside(&out) {
        out = drop_variable_asides(&out);
    }
    if rules.has(Rules::LISTS) && has_run(&out) {
        out = collapse_runs(&out);
    }
    out
}

/// Where the quote opened by a pair's value in the first word of `rest`
/// (which ends at `end`) closes (`tag="View Lock",`): the place of the
/// closing quote and the end of the word that holds it. The closing quote
/// must end a word (not `don't`).
fn closing_quote(rest: &str, end: usize, quote: u8) -> Option<(usize, usize)> {
    let close = end + rest.as_bytes()[end..].iter().position(|&b| b == quote)?;
    let after = &rest[close + 1..];
    if !(after.is_empty() || after.starts_with(|c: char| c.is_whitespace() || is_trailing_punct(c)))
    {
        return None;
    }
    Some((
        close,
        close + 1 + find_whitespace(after).unwrap_or(after.len()),
    ))
}

/// How many bytes at the start of `after` close brackets left open in
/// `inner` (`WorkSource{10113` and `},` give 1): a bracket belongs with
/// the one it closes, not to the punctuation after a word.
fn closing_brackets(inner: &[u8], after: &[u8]) -> usize {
    let mut open = [0u8; 8];
    let mut depth = 0;
    for &b in inner {
        match b {
            b'(' | b'[' | b'{' => {
                if depth == open.len() {
                    return 0;
                }
                open[depth] = if b == b'(' { b')' } else { b + 2 };
                depth += 1;
            }
            b')' | b']' | b'}' => {
                if depth == 0 || open[depth - 1] != b {
                    return 0;
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    let mut n = 0;
    while depth > 0 && after.get(n) == Some(&open[depth - 1]) {
        n += 1;
        depth -= 1;
    }
    n
}

/// Whether a template holds a parenthesis opening on a value (`(<*>`).
fn has_aside(template: &str) -> bool {
    let bytes = template.as_bytes();
    memchr::memchr_iter(b'(', bytes).any(|at| bytes[at + 1..].starts_with(b"<*>"))
}

/// Whether a value is followed by another (`<*> <*>`, `<*>, <*>`).
fn has_run(template: &str) -> bool {
    let bytes = template.as_bytes();
    memchr::memchr_iter(b'<', bytes).any(|at| {
        bytes[at..].starts_with(b"<*>") && {
            let after = &bytes[at + 3..];
            let after = match after.first() {
                Some(b',' | b';') => &after[1..],
                _ => after,
            };
            after.starts_with(b" <*>")
        }
    })
}

/// `s.find(char::is_whitespace)`, scanning bytes while they are ASCII.
fn find_whitespace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let i = bytes.iter().position(|&b| STOP[usize::from(b)])?;
    if bytes[i] >= 0x80 {
        return s[i..].find(char::is_whitespace).map(|j| i + j);
    }
    Some(i)
}

/// `s.trim_end()`, skipping ASCII whitespace byte by byte.
fn trim_end(s: &str) -> &str {
    let bytes = s.as_bytes();
    match bytes.iter().rposition(|&b| !is_ascii_space(b)) {
        Some(i) if bytes[i] >= 0x80 => s[..=i].trim_end(),
        Some(i) => &s[..=i],
        None => "",
    }
}

/// Whether a word holds a byte: a plain loop, cheaper than `memchr` on
/// words of a few bytes (`<[u8]>::contains` calls `memchr`).
#[allow(clippy::manual_contains)]
fn has_byte(bytes: &[u8], byte: u8) -> bool {
    bytes.iter().any(|&b| b == byte)
}

/// Whether a word holds a short run of bytes (`::`, `://`): a plain
/// window scan, cheaper on words of a few bytes than `str::contains`,
/// which sets up a two-way searcher for every call.
fn has_bytes(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// ASCII whitespace as `char::is_whitespace` sees it (with the vertical
/// tab, which `u8::is_ascii_whitespace` leaves out).
const fn is_ascii_space(b: u8) -> bool {
    matches!(b, 0x09..=0x0d | 0x20)
}

/// Bytes that end a scan for whitespace: ASCII whitespace, and the first
/// byte of any non-ASCII character (which may be Unicode whitespace).
const STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b >= 0x80 || is_ascii_space(b as u8);
        b += 1;
    }
    table
};

/// The brackets that split a word into parts (see [`has_word_part`]).
const BRACKETS: [bool; 256] = {
    let mut table = [false; 256];
    let brackets = *b"()[]{}<>";
    let mut i = 0;
    while i < brackets.len() {
        table[brackets[i] as usize] = true;
        i += 1;
    }
    table
};

/// `s.trim_start()`, skipping ASCII whitespace byte by byte.
fn trim_start(s: &str) -> &str {
    let bytes = s.as_bytes();
    match bytes.iter().position(|&b| !is_ascii_space(b)) {
        Some(i) if bytes[i] >= 0x80 => s[i..].trim_start(),
        Some(i) => &s[i..],
        None => "",
    }
}

/// A run of tokens that are each a value, separated by spaces or `,`/`;`
/// (`<*> <*> <*>`, `<*>, <*>`), becomes one `<*>` with the last token's
/// punctuation: a list of hosts, a date written in five words, an argument
/// list are one value of varying length. So does a list of values between
/// brackets (`[<*>, <*>]` reads `[<*>]`, as a list of one does).
fn collapse_runs(template: &str) -> String {
    // A comma goes on with a list; a semicolon may end it, but what comes
    // after one is another clause (`took <*>; <*> merged`).
    let in_list = |t: &str| t.trim_end_matches(',') == WILDCARD;
    let ends_list = |t: &str| t.trim_end_matches([',', ';']) == WILDCARD;
    let mut out = String::with_capacity(template.len());
    let mut tokens = words(template).peekable();
    while let Some(token) = tokens.next() {
        // A value followed by a value gives way to it: the run keeps its
        // last token (and that token's punctuation).
        if in_list(token) && tokens.peek().is_some_and(|next| ends_list(next)) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        // `[<*>, <*>, <*>]`: the bracket opens on a value and closes on
        // one, with nothing but values between.
        if let Some((open, between, last)) = bracketed_list(token, || tokens.clone()) {
            out.push_str(open);
            out.push_str(last);
            tokens.nth(between);
            continue;
        }
        out.push_str(token);
    }
    out
}

/// The words of a template, which are one space apart: `memchr` finds the
/// spaces in one pass (`str::split` searches afresh for every word).
pub(crate) fn words(template: &str) -> impl Iterator<Item = &str> + Clone {
    let bytes = template.as_bytes();
    let mut start = 0;
    memchr::memchr_iter(b' ', bytes)
        .chain(std::iter::once(bytes.len()))
        .map(move |end| {
            let token = &template[start..end];
            start = end + 1;
            token
        })
}

/// A list of values between brackets opened by `token` and closed among
/// the words after it, which `after()` gives (`[<*>,` `<*>,` `<*>]`):
/// what `token` holds up to its bracket (`args=[`), how many words lie
/// between the first and the last, and the last word. The first word ends
/// with an opening bracket and a value, the last is a value and the
/// matching closing bracket (and any punctuation), and the words between
/// are values.
fn bracketed_list<'a, I: Iterator<Item = &'a str>>(
    token: &'a str,
    after: impl FnOnce() -> I,
) -> Option<(&'a str, usize, &'a str)> {
    // Most words end with a letter: one byte tells.
    if !matches!(token.as_bytes().last(), Some(b'>' | b',')) {
        return None;
    }
    let open = token.trim_end_matches(',').strip_suffix(WILDCARD)?;
    let close = match open.as_bytes().last()? {
        b'(' => ')',
        b'[' => ']',
        b'{' => '}',
        _ => return None,
    };
    for (between, word) in after().enumerate() {
        if word.trim_end_matches(',') == WILDCARD {
            continue;
        }
        let rest = word.strip_prefix(WILDCARD)?.strip_prefix(close)?;
        return rest
            .bytes()
            .all(|b| b.is_ascii_punctuation() && b != b'<')
            .then_some((open, between, word));
    }
    None
}

/// Whether a word is an HTTP method opening a request line (`"GET`).
fn follows_method(word: &str) -> bool {
    matches!(
        word.trim_start_matches(is_leading_punct),
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS"
    )
}

/// The target of an HTTP request names the route: its word segments stay,
/// a segment holding a digit (an id) and the query string are values
/// (`/v2/54fa.../servers/detail?x=1` reads `/<*>/<*>/servers/detail?<*>`).
fn mask_route(word: &str, out: &mut String, rules: Rules) {
    let end = word.rfind(|c: char| !is_trailing_punct(c)).map_or(0, |i| {
        i + word[i..].chars().next().map_or(1, char::len_utf8)
    });
    let (target, trail) = word.split_at(end);
    let (path, query) = match target.split_once('?') {
        Some((path, _)) => (path, true),
        None => (target, false),
    };
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if segment.is_empty() {
            continue;
        }
        if is_variable(segment, rules) || segment.bytes().any(|b| b.is_ascii_digit()) {
            out.push_str(WILDCARD);
        } else {
            out.push_str(segment);
        }
    }
    if query {
        out.push('?');
        out.push_str(WILDCARD);
    }
    out.push_str(trail);
}

/// Removes parenthesised asides that hold nothing but values (`(<*>)`,
/// `(<*>, <*>)`): they annotate a value (`1190 bytes (1.16 KB)`) and come
/// and go with it, so the event is the same with or without them.
fn drop_variable_asides(template: &str) -> String {
    let tokens: Vec<&str> = template.split(' ').collect();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].starts_with('(') {
            // The aside runs to the token that closes it; all inside must be values.
            let mut j = i;
            let closed = loop {
                let token = tokens[j].trim_end_matches([',', ';']);
                if token.trim_start_matches('(').trim_end_matches(')') != WILDCARD {
                    break false;
                }
                if token.ends_with(')') {
                    break true;
                }
                if j + 1 == tokens.len() {
                    break false;
                }
                j += 1;
            };
            if closed {
                // Punctuation after the aside stays (`x (<*>),` -> `x,`).
                out.push_str(&tokens[j][tokens[j].trim_end_matches([',', ';']).len()..]);
                i = j + 1;
                continue;
            }
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(tokens[i]);
        i += 1;
    }
    out
}

fn is_unit(word: &str) -> bool {
    let word = word.trim_end_matches([',', ';', ')', '.']);
    matches!(
        word,
        "B" | "KB"
            | "MB"
            | "GB"
            | "TB"
            | "KiB"
            | "MiB"
            | "GiB"
            | "TiB"
            | "kB"
            | "ms"
            | "sec"
            | "secs"
            | "seconds"
            | "min"
            | "mins"
            | "minutes"
            | "hours"
    )
}

fn is_leading_punct(c: char) -> bool {
    matches!(c, '(' | '[' | '{' | '<' | '"' | '\'' | '`')
}

fn is_trailing_punct(c: char) -> bool {
    matches!(
        c,
        ')' | ']' | '}' | '>' | '"' | '\'' | '`' | ',' | ';' | ':' | '.' | '!' | '?'
    )
}

/// Masks one whitespace-free word, keeping surrounding punctuation.
/// Returns where a pair's quoted value opens when its quote does not close
/// in this word (`tag="View`): the value may go on in the next words.
fn mask_word(word: &str, out: &mut String, rules: Rules) -> Option<usize> {
    // The punctuation is ASCII: bytes suffice, and a byte of a multi-byte
    // character is never punctuation, so the cuts fall on char boundaries.
    let bytes = word.as_bytes();
    // A backslash escaping a quote (`\"nginx:1.25\"`, inside a quoted
    // message) goes with the quote.
    let escaped_quote =
        |i: usize| bytes[i] == b'\\' && matches!(bytes.get(i + 1), Some(b'"' | b'\''));
    let start = (0..bytes.len())
        .find(|&i| {
            let b = bytes[i];
            (!is_leading_punct(char::from(b)) || b >= 0x80) && !escaped_quote(i)
        })
        .unwrap_or(word.len());
    let end = (0..bytes.len())
        .rev()
        .find(|&i| {
            let b = bytes[i];
            (!is_trailing_punct(char::from(b)) || b >= 0x80) && !escaped_quote(i)
        })
        .map_or(start, |i| i + 1)
        .max(start);
    let (lead, core, trail) = (&word[..start], &word[start..end], &word[end..]);
    // Empty brackets stand for an empty value: `()` reads as `(<*>)`.
    if rules.has(Rules::BRACKETS) && core.is_empty() && matches!(word, "()" | "[]" | "{}") {
        out.push_str(&word[..1]);
        out.push_str(WILDCARD);
        out.push_str(&word[1..]);
        return None;
    }
    // `<1`, `>=5`: a comparison before a number is part of the value.
    if rules.has(Rules::BRACKETS)
        && (lead == "<" || lead == ">")
        && core
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'=')
    {
        out.push_str(WILDCARD);
        out.push_str(trail);
        return None;
    }
    out.push_str(lead);
    let Some(value) = mask_core(core, out, rules) else {
        out.push_str(trail);
        return None;
    };
    // A bracket that closes one opened in a masked value is part of the
    // value (`ws=WorkSource{10113},` reads `ws=<*>,`), not punctuation
    // after it.
    let closed = match trail.as_bytes().first() {
        Some(b')' | b']' | b'}') => closing_brackets(
            value.trim_start_matches(is_leading_punct).as_bytes(),
            trail.as_bytes(),
        ),
        _ => 0,
    };
    out.push_str(&trail[closed..]);
    // A quote that opens the value and does not close in this word may
    // close in a later one.
    let at = start + core.len() - value.len();
    (matches!(bytes[at], b'"' | b'\'') && !bytes[at + 1..].contains(&bytes[at])).then_some(at)
}

/// Returns what was masked as one value: the whole word, or the value of
/// a `key=value` pair (see [`mask_word`]).
fn mask_core<'a>(core: &'a str, out: &mut String, rules: Rules) -> Option<&'a str> {
    if core.is_empty() {
        return None;
    }
    // Most words are letters only: of the rules, only booleans and day
    // and month names can make them values.
    if core.bytes().all(|b| b.is_ascii_alphabetic()) {
        out.push_str(if is_word_value(core, rules) {
            WILDCARD
        } else {
            core
        });
        return None;
    }
    let pair = if rules.has(Rules::PAIRS) {
        split_pair(core)
    } else {
        None
    };
    if is_variable_word(core, rules, pair.is_some()) {
        out.push_str(WILDCARD);
        return Some(core);
    }
    // key=value / key:value: keep the key, mask the value.
    if let Some((key, sep, value)) = pair {
        if !value.is_empty() {
            out.push_str(key);
            out.push(sep as char);
            let text = rules.has(Rules::MESSAGES) && is_message_key(key);
            if sep == b'=' && !text {
                // Any value of a `key=value` pair is a variable, words
                // included (`state=active`); its brackets stay.
                let start = value
                    .find(|c: char| !is_leading_punct(c))
                    .unwrap_or(value.len());
                let end = value
                    .rfind(|c: char| !is_trailing_punct(c))
                    .map_or(start, |i| {
                        i + value[i..].chars().next().map_or(1, char::len_utf8)
                    })
                    .max(start);
                if start == end {
                    out.push_str(value);
                } else {
                    out.push_str(&value[..start]);
                    out.push_str(WILDCARD);
                    out.push_str(&value[end..]);
                }
            } else {
                // `key:value`: the value by its shape (`ret:false`,
                // `port:8080`); a message's value is text (`msg="disk`).
                mask_word(value, out, rules);
            }
            return (sep == b'=' && !text).then_some(value);
        }
    }
    if !rules.has(Rules::PARTS) {
        out.push_str(core);
        return None;
    }
    // A path glued to a call (`open("/tmp/x")`) is a value like any path.
    let digits = rules.has(Rules::DIGITS) && core.bytes().any(|b| b.is_ascii_digit());
    let paths = rules.has(Rules::PATHS) && memchr::memchr2(b'/', b'\\', core.as_bytes()).is_some();
    if (digits || paths) && has_word_part(core, rules) {
        // Parts with a digit are values, word parts stay (see has_word_part).
        let quote = |c: char| c == '"' || c == '\'';
        for_each_part(core, |body, sep| {
            let digit = digits
                && body.bytes().any(|b| b.is_ascii_digit())
                && !(rules.has(Rules::NAMES) && is_name(body));
            if digit {
                out.push_str(WILDCARD);
            } else if paths && is_path(body.trim_matches(quote)) {
                // The quotes stay: `open("<*>")`.
                let start = body.len() - body.trim_start_matches(quote).len();
                let end = body.trim_end_matches(quote).len();
                out.push_str(&body[..start]);
                out.push_str(WILDCARD);
                out.push_str(&body[end..]);
            } else {
                out.push_str(body);
            }
            out.push_str(sep);
        });
        return None;
    }
    out.push_str(core);
    None
}

/// Keys whose value is the message itself, by the usual names of
/// structured loggers (logfmt, JSON): `msg="disk full"`, `error=ENOENT`.
const MESSAGE_KEYS: [&str; 8] = [
    "msg",
    "message",
    "error",
    "err",
    "reason",
    "event",
    "description",
    "detail",
];

fn is_message_key(key: &str) -> bool {
    MESSAGE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// The template of a message (trimmed, between braces) that is a JSON
/// object, or `None` if it is not one. Keys stay, sorted; numbers,
/// booleans and nulls are values; strings are text, masked as messages
/// are (`"msg": "disk <*> full"`); a list of like items is one item
/// (`[<*>]`).
fn json_template(message: &str, rules: Rules) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(message).ok()?;
    if !value.is_object() {
        return None;
    }
    let mut out = String::with_capacity(message.len());
    render_json(&value, &mut out, rules);
    // Keys and strings may hold whitespace runs: words join by one space.
    Some(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn render_json(value: &serde_json::Value, out: &mut String, rules: Rules) {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('"');
                out.push_str(key);
                out.push_str("\": ");
                render_json(&fields[key.as_str()], out, rules);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            let mut last = String::new();
            let mut item = String::new();
            for value in items {
                item.clear();
                render_json(value, &mut item, rules);
                if item != last {
                    if !last.is_empty() {
                        out.push_str(", ");
                    }
                    out.push_str(&item);
                    std::mem::swap(&mut last, &mut item);
                }
            }
            out.push(']');
        }
        Value::String(text) => {
            out.push('"');
            out.push_str(&template_of_with(text, rules));
            out.push('"');
        }
        Value::Number(_) | Value::Bool(_) | Value::Null => out.push_str(WILDCARD),
    }
}

/// `key=value` or `key:value` with an identifier key: (key, separator, value).
fn split_pair(core: &str) -> Option<(&str, u8, &str)> {
    let pos = core.bytes().position(|b| b == b'=' || b == b':')?;
    let sep = core.as_bytes()[pos];
    is_key(&core[..pos], sep).then(|| (&core[..pos], sep, &core[pos + 1..]))
}

/// A pair's key: an identifier (`user_id`, `tag`, `Surface(name`), without
/// dots for `:` pairs so that `host.example.com:80` is not a pair.
fn is_key(key: &str, sep: u8) -> bool {
    !key.is_empty()
        && !key.bytes().any(|b| b.is_ascii_digit())
        && key.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || b == b'_'
                || b == b'-'
                || b == b'('
                || b == b'['
                || b == b'{'
                || (b == b'.' && sep == b'=')
        })
}

/// Common top-level domains, for two-label host names (`zummit.com`).
const TLDS: [&str; 24] = [
    "com", "net", "org", "edu", "gov", "mil", "int", "io", "info", "biz", "co", "uk", "de", "cn",
    "hk", "jp", "ru", "fr", "br", "in", "au", "us", "eu", "pl",
];

const DAYS_AND_MONTHS: [&str; 19] = [
    "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul",
    "Aug", "Sep", "Oct", "Nov", "Dec", "May",
];

/// A plain word that is a value: a boolean, a day or month name.
fn is_word_value(core: &str, rules: Rules) -> bool {
    (rules.has(Rules::BOOLEANS)
        && (core.eq_ignore_ascii_case("true") || core.eq_ignore_ascii_case("false")))
        || (rules.has(Rules::DATES)
            && core.len() == 3
            && core.as_bytes()[0].is_ascii_uppercase()
            && DAYS_AND_MONTHS.contains(&core))
}

/// Words that are values by their shape alone.
fn is_variable(core: &str, rules: Rules) -> bool {
    is_variable_word(
        core,
        rules,
        rules.has(Rules::PAIRS) && split_pair(core).is_some(),
    )
}

/// [`is_variable`], told whether the word is a pair (masked by the pairs
/// rule, not as a whole).
fn is_variable_word(core: &str, rules: Rules, pair: bool) -> bool {
    let bytes = core.as_bytes();
    // Numbers, hex ids, UUIDs, IP addresses and most identifiers hold a digit.
    if rules.has(Rules::DIGITS)
        && bytes.iter().any(u8::is_ascii_digit)
        && !pair
        && !(rules.has(Rules::PARTS) && has_word_part(core, rules))
        && !(rules.has(Rules::NAMES) && is_name(core))
    {
        return true;
    }
    if is_word_value(core, rules) {
        return true;
    }
    if rules.has(Rules::PATHS) && is_path(core) {
        return true;
    }
    // Email addresses.
    if rules.has(Rules::EMAILS) {
        if let Some(at) = bytes.iter().position(|&b| b == b'@') {
            if at > 0 && has_byte(&bytes[at..], b'.') {
                return true;
            }
        }
    }
    rules.has(Rules::HOSTS) && is_host_name(core)
}

/// URLs and paths: Unix (`/var/log/x`), relative (`./x`, `../x`, `~/x`)
/// and Windows (`C:\Windows\x`, `\Windows\x`, `\\server\share`, and
/// `Files\App\app.exe`, the rest of a path with a space in it: a word
/// with two backslashes is a Windows path).
fn is_path(core: &str) -> bool {
    let bytes = core.as_bytes();
    !bytes.is_empty()
        && ((has_byte(bytes, b':') && has_bytes(bytes, b"://"))
            || (bytes[0] == b'/' && core.matches('/').count() >= 2)
            || (bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && &bytes[1..3] == b":\\")
            || is_windows_path(bytes)
            || (matches!(bytes[0], b'.' | b'~')
                && (core.starts_with("./") || core.starts_with("../") || core.starts_with("~/"))))
}

/// Two backslashes or more, with nothing but a name before the first
/// (`\\server\share`, `Files\App\app.exe`; not `load[C:\a\b]`, whose
/// path is a part).
fn is_windows_path(bytes: &[u8]) -> bool {
    // Scanned byte by byte: most words are a few bytes, too short for
    // `memchr`'s setup to pay.
    let mut separators = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\\')
        .map(|(i, _)| i);
    let (Some(first), Some(_)) = (separators.next(), separators.next()) else {
        return false;
    };
    bytes[..first]
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$'))
}

/// `www.example.com`, `zummit.com`, `system.charge.show`, with an optional
/// `:port`: lowercase dotted names are values (hosts, packages, config keys).
fn is_host_name(core: &str) -> bool {
    let bytes = core.as_bytes();
    if !has_byte(bytes, b'.') {
        return false;
    }
    let name = match bytes.iter().rposition(|&b| b == b':') {
        Some(colon) if bytes[colon + 1..].iter().all(u8::is_ascii_digit) => &core[..colon],
        _ => core,
    };
    let mut labels = 0;
    let mut last: &[u8] = b"";
    for label in name.as_bytes().split(|&b| b == b'.') {
        if label.is_empty()
            || !label
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 3 || TLDS.iter().any(|tld| tld.as_bytes() == last)
}

/// A name that holds one digit glued to two letters or more before it: a
/// version or a model, not a count or an id. Only where the shape says so:
/// letters go on after the digit (`jk2_init`, `Brcm4xx`), or the word is in
/// capitals (`SOCKS5`, `HTTP2`). A lowercase word ending in a digit is
/// left a value: `eth0`, `sda1`, `tty2` are indices as often as `ssh2` is a
/// version, and a version masked only costs the template a word, while an
/// index kept splits the event. `node-7`, `D2`, `u0` stay values; a dotted
/// word is a host or a class (other rules).
fn is_name(core: &str) -> bool {
    let bytes = core.as_bytes();
    let mut digits = bytes.iter().enumerate().filter(|(_, b)| b.is_ascii_digit());
    let (Some((at, _)), None) = (digits.next(), digits.next()) else {
        return false;
    };
    let letters_after = bytes[at + 1..].iter().any(u8::is_ascii_alphabetic);
    let capitals = bytes[..at]
        .iter()
        .all(|b| b.is_ascii_uppercase() || !b.is_ascii_alphabetic());
    at >= 2
        && bytes[at - 2..at].iter().all(u8::is_ascii_alphabetic)
        && (letters_after || capitals)
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'))
}

/// Calls `f` with each part of a word split at brackets and `::` (a
/// scope) and the separator that follows it (empty at the end).
fn for_each_part<'a>(core: &'a str, mut f: impl FnMut(&'a str, &'a str)) {
    let bytes = core.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let width = match bytes[i] {
            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'>' => 1,
            b':' if bytes.get(i + 1) == Some(&b':') => 2,
            _ => 0,
        };
        if width == 0 {
            i += 1;
            continue;
        }
        f(&core[start..i], &core[i..i + width]);
        i += width;
        start = i;
    }
    f(&core[start..], "");
}

/// Whether a word is built of parts (split at brackets and `::`) of which
/// one is a word (two or more characters, no digit, a letter beyond the
/// hex digits) or a name ([`is_name`]).
fn has_word_part(core: &str, rules: Rules) -> bool {
    // One table lookup a byte: most words with a digit have no part.
    let bytes = core.as_bytes();
    let split = bytes.iter().any(|&b| BRACKETS[usize::from(b)])
        || (has_byte(bytes, b':') && has_bytes(bytes, b"::"));
    if !split {
        return false;
    }
    let word = |part: &str| {
        (rules.has(Rules::NAMES) && is_name(part))
            || part.len() >= 2
                && !part.bytes().any(|b| b.is_ascii_digit())
                && part
                    .bytes()
                    .any(|b| b.is_ascii_alphabetic() && !b.is_ascii_hexdigit())
    };
    let mut count = 0;
    let mut any_word = false;
    for_each_part(core, |part, _| {
        count += 1;
        any_word |= word(part);
    });
    count > 1 && any_word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(message: &str, expected: &str) {
        assert_eq!(template_of(message), expected, "message {message:?}");
    }

    #[test]
    fn masks_variable_parts() {
        check("Database connection failed", "Database connection failed");
        check(
            "Connection to 10.0.0.12:5432 timed out after 3000ms",
            "Connection to <*> timed out after <*>",
        );
        check("user 42 logged in", "user <*> logged in");
        check(
            "request took 1.25s (limit 2s)",
            "request took <*> (limit <*>)",
        );
        check("temperature -3.5 degrees", "temperature <*> degrees");
        check("disk at 95% on /dev/sda1", "disk at <*> on <*>");
        check(
            "trace 550e8400-e29b-41d4-a716-446655440000 failed",
            "trace <*> failed",
        );
        check(
            "pointer 0x7ffd5c3a dereferenced",
            "pointer <*> dereferenced",
        );
        check("commit deadbeef42 reverted", "commit <*> reverted");
        check(
            "peer fe80::1ff:fe23:4567:890a unreachable",
            "peer <*> unreachable",
        );
        // A quoted word is a value; a quoted run of words keeps the words
        // that name the event, each masked by its shape.
        check("user \"alice\" denied", "user <*> denied");
        check("key 'abc', retrying", "key <*>, retrying");
        check(
            "file 'report final.pdf' not found",
            "file 'report final.pdf' not found",
        );
        check(
            "\"GET /api/v1/users HTTP/1.1\" 200",
            "\"GET /api/<*>/users <*>\" <*>",
        );
        check(
            "10.1.1.1 \"POST /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail?all=True&since=2017 HTTP/1.1\" status: 200",
            "<*> \"POST /<*>/<*>/servers/detail?<*> <*>\" status: <*>",
        );
        check("\"GET /\" 404", "\"GET /\" <*>");
        check("GET /a/b, PUT /c/d", "GET /a/b, PUT /c/d");
        check("opened /var/log/x and /var/log/y", "opened <*> and <*>");
        check("don't panic", "don't panic");
        check("user_id=123 status=active", "user_id=<*> status=<*>");
        check(
            "Surface(name=InputMethod) destroyed",
            "Surface(name=<*>) destroyed",
        );
        check("rhost= user=root", "rhost= user=<*>");
        check(
            "ret:false overlap:true action:SCREEN_ON",
            "ret:<*> overlap:<*> action:SCREEN_ON",
        );
        check(
            "connection from www.example.com closed",
            "connection from <*> closed",
        );
        check("lookup zummit.com failed", "lookup <*> failed");
        check("config.pinyin.sogou.com:80 refused", "<*> refused");
        check("visible is system.charge.show", "visible is <*>");
        check(
            "Exception java.lang.NullPointerException thrown",
            "Exception java.lang.NullPointerException thrown",
        );
        check("run chrome.exe now", "run chrome.exe now");
        check("at Fri Jun 17 07:07:00 2005", "at <*>");
        check(
            "Loaded C:\\Windows\\winsxs\\cbscore.dll, from \\\\srv\\share ok",
            "Loaded <*>, from <*> ok",
        );
        check("a:\\b and c:d stay", "<*> and c:d stay");
        check(
            "Loaded \\SystemRoot\\System32\\x.dll, ran ./bin/start.sh, ../x and ~/.config",
            "Loaded <*>, ran <*> and <*>",
        );
        check("escape \\n here, end.", "escape \\n here, end.");
        // A path with a space in it: its rest is a path too, and the two
        // words one value.
        check(
            "no version for C:\\Program Files\\App\\app.exe [HRESULT = 0x80070002]",
            "no version for <*> [HRESULT = <*>]",
        );
        // A path glued to a call is a value, its quotes stay.
        check("open(\"/tmp/app.sock\") failed", "open(\"<*>\") failed");
        check("stat(/var/run/app.pid): gone", "stat(<*>): gone");
        check("foo(\"bar\") and a\\b stay", "foo(\"bar\") and a\\b stay");
        check(
            "opened /var/log/messages for reading",
            "opened <*> for reading",
        );
        check("GET https://example.com/a?b=c done", "GET <*> done");
        check("mail to ops@example.com bounced", "mail to <*> bounced");
        check("down true canceled FALSE", "down <*> canceled <*>");
        check(
            "estimated size 93.0 B, free 317.1 KB)",
            "estimated size <*>, free <*>)",
        );
        check("B-tree of 5 B", "B-tree of <*>");
        check("lifetime <1 sec", "lifetime <*>");
        check("lifetime 00:01", "lifetime <*>");
        check(
            "1190 bytes (1.16 KB) sent, 815 bytes received",
            "<*> bytes sent, <*> bytes received",
        );
        check(
            "entries: 1024 (order 0, 4096 bytes)",
            "entries: <*> (order <*> bytes)",
        );
        check(
            "connection from 10.0.0.1 () at noon",
            "connection from <*> at noon",
        );
        check("value (x) kept", "value (x) kept");
        check("took 5 ms (p99)", "took <*>");
        check("retry in 3 secs", "retry in <*>");
        check("job (42) done", "job done");
        check("grade B assigned", "grade B assigned");
        check("port:8080 host:db", "port:<*> host:db");
        check(
            "Received block blk_-1608999687919862906 of size 91178",
            "Received block <*> of size <*>",
        );
        check("  spaced   out\ttext  ", "spaced out text");
        check("[worker-3] job done", "[<*>] job done");
        check("(42)", "");
        check("job (42) done", "job done");
        check("", "");
        check("ünïcödé 5 wörds", "ünïcödé <*> wörds");
        // Any Unicode whitespace parts words, as ASCII whitespace does.
        check("é\u{2003}5\u{a0}x\u{b}y", "é <*> x y");
        check("a \u{a0}\t\u{2003} b\u{3000}", "a b");
        check("\u{3000} é \u{2003}\t", "é");
        check("\t\u{a0}x é\n", "x é");
        check("«x5» (ü)", "<*> (ü)");
        assert_eq!(
            pattern_id_of("a"),
            format!("{:016x}", 0xaf63dc4c8601ec8c_u64)
        );
    }

    #[test]
    fn a_pair_s_value_keeps_its_brackets_and_quoted_words() {
        // A bracket closing one opened in the value is part of the value.
        check(
            "acquire lock=7, ws=WorkSource{10113}, uid=1000",
            "acquire lock=<*>, ws=<*>, uid=<*>",
        );
        check(
            "acquire lock=7, ws=null, uid=1000",
            "acquire lock=<*>, ws=<*>, uid=<*>",
        );
        check("top=Info{a/.B}}", "top=<*>}");
        // So is one that closes a bracket opened in a word masked whole.
        check(
            "listening on :[akka.tcp://sys@10.0.0.1:7077]",
            "listening on <*>",
        );
        check("[worker-3] {0x3} done", "[<*>] {<*>} done");
        check("by LOGIN(uid=0)", "by LOGIN(uid=<*>)");
        check("obj[42]) freed", "obj[<*>]) freed");
        check("fn(arg(1)]", "fn(arg(<*>)]");
        // A quoted value is one value, spaces and all.
        check("tag=\"View Lock\", name=x", "tag=\"<*>\", name=<*>");
        check("(tag='a b c') sent", "(tag='<*>') sent");
        check("tag=\"RILJ\" sent", "tag=\"<*>\" sent");
        // Unclosed, or closed inside a word: the first word is the
        // value, as for any pair.
        check("tag=\"a b c", "tag=\"<*> b c");
        check("tag='don't stop' now", "tag='<*> stop' now");
    }

    #[test]
    fn a_message_key_holds_text() {
        // logfmt: the message names the event; other values are values.
        check(
            "level=error msg=\"db timeout\" attempt=3",
            "level=<*> msg=\"db timeout\" attempt=<*>",
        );
        check(
            "level=warn msg=\"disk /dev/sda1 93% full\" host=web-1",
            "level=<*> msg=\"disk <*> full\" host=<*>",
        );
        assert_ne!(
            template_of("level=info msg=started"),
            template_of("level=info msg=stopped")
        );
        check(
            "failed: error=ENOENT path=/x/y",
            "failed: error=ENOENT path=<*>",
        );
        check("MSG=\"a b\" tag=\"View Lock\"", "MSG=\"a b\" tag=\"<*>\"");
        // Quotes escaped inside the message quote as quotes do.
        check(
            r#"msg="failed to pull image \"nginx:1.25\"" attempt=2"#,
            r#"msg="failed to pull image <*>" attempt=<*>"#,
        );
        check(
            r#"msg="user \"bob\" not found""#,
            r#"msg="user <*> not found""#,
        );
        check(r#"msg="at \"a b\"""#, r#"msg="at \"a b\"""#);
        // Without the rule, the quoted value is one value.
        assert_eq!(
            template_of_with("x msg=\"db timeout\"", Rules::ALL.without(Rules::MESSAGES)),
            "x msg=\"<*>\""
        );
    }

    #[test]
    fn a_json_message_reads_as_its_fields() {
        check(
            r#"{"level":"error","msg":"db timeout","attempt":3}"#,
            r#"{"attempt": <*>, "level": "error", "msg": "db timeout"}"#,
        );
        // The same fields in another order and spacing: the same event.
        assert_eq!(
            template_of(r#" {"attempt": 12, "msg": "db timeout", "level": "error"} "#),
            template_of(r#"{"level":"error","msg":"db timeout","attempt":3}"#)
        );
        // Strings are text masked by shape; lists of like items are one.
        check(
            r#"{"msg":"GET /api/v1/users/42 took 35ms","ids":[1,2,3],"ok":true,"err":null,"ctx":{"peer":"10.0.0.7:443","tags":["a","a"]}}"#,
            r#"{"ctx": {"peer": "<*>", "tags": ["a"]}, "err": <*>, "ids": [<*>], "msg": "GET /api/<*>/users/<*> took <*>", "ok": <*>}"#,
        );
        // Whitespace in keys and strings: words joined by one space.
        check("{\"a  b\": \"x\\n\\ty\"}", r#"{"a b": "x y"}"#);
        // Not JSON, or not an object: read as text.
        check("{ not json } 42", "{ not json } <*>");
        check("[1, 2, 3]", "[<*>]");
        assert_ne!(
            template_of_with(r#"{"n":1}"#, Rules::ALL.without(Rules::JSON)),
            template_of(r#"{"n":1}"#)
        );
    }

    #[test]
    fn a_list_of_values_is_one_value_whatever_its_length() {
        let one = template_of("nodes 10.0.0.1, 10.0.0.2, 10.0.0.3 unreachable");
        assert_eq!(one, "nodes <*> unreachable");
        assert_eq!(template_of("nodes 10.0.0.9 unreachable"), one);
        check("copied 3 4 5 files", "copied <*> files");
        // Punctuation after the run stays; words break a run.
        check("sizes 1, 2, 3; done", "sizes <*>; done");
        check(
            "took 152 ms; 12 merged into 1",
            "took <*>; <*> merged into <*>",
        );
        check("size 1, free 2", "size <*>, free <*>");
        check("took 5. 6 left", "took <*>. <*> left");
        // Between brackets: the brackets stay, around one value.
        let listed = template_of("nodes [10.0.0.1, 10.0.0.2] joined");
        assert_eq!(listed, "nodes [<*>] joined");
        assert_eq!(template_of("nodes [10.0.0.1] joined"), listed);
        assert_eq!(template_of("nodes [] joined"), listed);
        check("args=[1, 2, 3], done", "args=[<*>], done");
        check("sizes {1 2 3} set", "sizes {<*>} set");
        // Not a list of values alone: a word, or brackets that differ.
        check("pair [1, x] kept", "pair [<*>, x] kept");
        check("pair [1, 2) kept", "pair [<*>, <*>) kept");
    }

    #[test]
    fn word_parts_of_a_word_stay_and_its_numbers_go() {
        check(
            "ARPT: 62.01: AirPort_Brcm43xx::syncPowerState: WWEN[enabled]",
            "ARPT: <*>: <*>::syncPowerState: WWEN[enabled]",
        );
        check(
            "IOThunderboltSwitch<0x7f>(0x3)::listenerCallback",
            "IOThunderboltSwitch<<*>>(<*>)::listenerCallback",
        );
        check("ActivityRecord{9f4ef63 u0", "ActivityRecord{<*> <*>");
        check("frame obj[42] freed", "frame obj[<*>] freed");
        // Dots and single colons do not part a word: hosts, addresses,
        // file:line are one value.
        check("at Main.java:42 in host12.example.com", "at <*> in <*>");
        check("peer fe80::1ff:fe23 up", "peer <*> up");
        check("peer fe80::abcd up", "peer <*> up");
    }

    #[test]
    fn a_name_with_one_digit_is_a_word() {
        check("jk2_init() Found child 5", "jk2_init() Found child <*>");
        check("HTTP2 stream reset", "HTTP2 stream reset");
        check(
            "open through proxy 10.0.0.1:1080 SOCKS5",
            "open through proxy <*> SOCKS5",
        );
        // Counts, enumerated ids and indices are values; so is a lowercase
        // word ending in a digit (an index as often as a version).
        for (message, template) in [
            ("port 22 ssh2", "port <*>"),
            ("DHCPACK on 10.0.0.2 via eth1", "DHCPACK on <*> via <*>"),
            ("node node-7 up", "node <*> up"),
            ("domain node-D2 up", "domain <*> up"),
            ("user u0 started", "user <*> started"),
            ("retries 3x", "retries <*>"),
            ("took 12ms", "took <*>"),
            ("build ab12 ok", "build <*> ok"),
        ] {
            check(message, template);
        }
    }

    #[test]
    fn same_event_same_pattern_id() {
        let a = pattern_of("Connection to 10.0.0.12:5432 timed out after 3000ms");
        let b = pattern_of("Connection to 192.168.1.9:6379 timed out after 15ms");
        let c = pattern_of("Connection to 192.168.1.9:6379 refused");
        assert_eq!(a, b);
        assert_ne!(a.pattern_id, c.pattern_id);
        assert_eq!(a.pattern_id.len(), 16);
        // Stable across releases: a known value.
        assert_eq!(pattern_id_of(""), "cbf29ce484222325");
    }
}

mod merge;
pub use merge::{merge_templates, merge_templates_with, MergeRules, Merged};
