//! Query-time merging of templates that are the same event.
//!
//! Ingest-time masking catches variables by their shape (numbers, ids,
//! addresses...). Variables that are plain words (user names, host names
//! without digits, program names) are caught here, by how many values they
//! take: templates of the same length that are equal but for one position
//! are one event when that position takes at least [`MIN_VALUES`] distinct
//! values and at least [`MIN_CONSTANTS`] other constant words remain. A
//! position with few values is kept apart (`opened`/`closed`, `DMA`/`Normal`
//! zone): those are usually different events. So is a position whose
//! words read as the states of an enumeration, however many: all in
//! capitals (`GET`/`POST`/`DELETE`), all one verb form
//! (`Started`/`Stopped`/`Paused`), or holding opposites
//! (`start`/`stop`/`restart`, `up`/`down`/`degraded`); see [`are_states`].
//! The merge repeats until nothing changes, so several word positions can
//! become `<*>`. When no single position merges any more, two neighbouring
//! positions are tried together: a value written as two words (`Fri Jul`,
//! `John Smith`) takes few values in each word but many as a pair. The
//! pair must take at least [`MIN_VALUES`] values in the members' own
//! templates (a word merged before counts with each of its values), each
//! word at least two, neither read as states, and [`MIN_CONSTANTS`] words
//! must stay besides the two. Each pass keys only the groups that a merge
//! of the pass before could have changed.
//! Then word values that stand apart in one message (`session closed for
//! user alice by su`), whose combinations are each seen once, are found by
//! their words' frequencies, as Brain does: among templates of one length,
//! a template's most frequent words are its constant words and the rarer
//! ones its values (`merge_columns`).
//! Last, groups whose constant words are the same in the same order are
//! one event (a value printed or not, empty or not, a list of any length,
//! a list of records of any length); see [`skeleton`] and
//! [`without_repeats`].
//!
//! The result depends only on the set of templates, not on their order.

use std::collections::{BTreeMap, BTreeSet};

use crate::WILDCARD;

/// A group of input templates judged to be one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The group's template: positions where members differ become `<*>`.
    pub template: String,
    /// Indices into the input slice.
    pub members: Vec<usize>,
}

/// Distinct values a position needs before it is taken for a variable.
pub const MIN_VALUES: usize = 3;
/// Constant words that must remain besides the varying position.
pub const MIN_CONSTANTS: usize = 3;

/// The merge's thresholds and switches. The service always merges with
/// [`MergeRules::default`] (the constants above); other values exist so
/// that `logbench accuracy --cross-validate` can choose them on some
/// datasets and score them on others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MergeRules {
    pub min_values: usize,
    pub min_constants: usize,
    /// Keep apart values that read as states of one enumeration (see
    /// `merge::are_states`) however many there are.
    pub states: bool,
    /// Templates whose constant words are the same, in the same order, are
    /// one event whatever values stand between them (see `merge::skeleton`).
    pub optional_values: bool,
    /// When no single position merges any more, templates equal but for
    /// two neighbouring words merge too (a value written as two words:
    /// `Fri Jul`, `John Smith`), each word taking two values or more.
    pub pairs: bool,
    /// Then templates of one length whose most frequent words are the
    /// same merge, their rarer words taken for values (several word
    /// values in one message: `session closed for user <*> by <*>`); see
    /// `merge::merge_columns`.
    pub columns: bool,
}

impl Default for MergeRules {
    fn default() -> Self {
        MergeRules {
            min_values: MIN_VALUES,
            min_constants: MIN_CONSTANTS,
            states: true,
            optional_values: true,
            pairs: true,
            columns: true,
        }
    }
}

struct Cluster<'a> {
    /// The template's words, borrowed from the input (`<*>` where merged).
    tokens: Vec<&'a str>,
    members: Vec<usize>,
    live: bool,
    /// Each token's hash ([`token_hash`]).
    hashes: Vec<u64>,
    /// The pass whose merge last changed `tokens` (0: none did).
    changed_at: usize,
}

/// Merges templates (with their counts) that are the same event; see the
/// module docs. Counts do not change the grouping (they are for callers).
pub fn merge_templates(templates: &[(&str, u64)]) -> Vec<Merged> {
    merge_templates_with(templates, MergeRules::default())
}

/// [`merge_templates`] with other thresholds (for measuring them).
pub fn merge_templates_with(templates: &[(&str, u64)], rules: MergeRules) -> Vec<Merged> {
    // Deterministic whatever the input order: work in template order.
    let mut order: Vec<usize> = (0..templates.len()).collect();
    order.sort_by(|&a, &b| templates[a].0.cmp(templates[b].0));
    // Each input template's words.
    let words: Vec<Vec<&str>> = templates
        .iter()
        .map(|(template, _)| {
            let mut tokens = Vec::with_capacity(bytecount_spaces(template) + 1);
            tokens.extend(crate::words(template));
            tokens
        })
        .collect();
    let mut clusters: Vec<Cluster> = order
        .iter()
        .map(|&i| Cluster {
            tokens: words[i].clone(),
            members: vec![i],
            live: true,
            hashes: words[i].iter().map(|t| token_hash(t)).collect(),
            changed_at: 0,
        })
        .collect();
    let wildcard_hash = token_hash(WILDCARD);
    // How many neighbouring words may differ: one, then two when one merges
    // nothing more (and back to one after two merged something).
    let mut width = 1;
    // Passes are numbered from 1; the last pass of each width (0: none).
    let mut pass = 0;
    let mut last_pass = [0usize; 3];
    let mut keyed: Vec<(u64, u32, u32)> = Vec::new();
    let mut fresh_keys: Vec<u64> = Vec::new();
    // A bit per value of a key's low bits: set for fresh keys, so most
    // other keys are turned away without a search.
    let mut fresh_bits = vec![0u64; 1 << 10];
    loop {
        pass += 1;
        let mut changed = false;
        // A cluster whose words did not change since the last pass of this
        // width had the same keys then, and its groups did not merge: only
        // groups holding a changed cluster can merge now.
        let since = last_pass[width];
        last_pass[width] = pass;
        // Templates equal but for one position share a key. The key is a
        // hash of the tokens before and after the position (prefix and
        // suffix hashes: each template costs its length, not its length
        // squared), mixed with the position and length into one u64 so
        // that the sort compares words, not tuples. Buckets of two or more
        // are then checked token by token and ordered by the key's text,
        // so a hash collision cannot merge and the order is the text's.
        keyed.clear();
        fresh_keys.clear();
        fresh_bits.fill(0);
        let bit = |key: u64| ((key >> 6) as usize & ((1 << 10) - 1), 1u64 << (key & 63));
        let mut suffix: Vec<u64> = Vec::new();
        // Fresh clusters first, so that the others' keys can be checked
        // against theirs as they are made.
        let fresh = |c: &Cluster| since == 0 || c.changed_at >= since;
        let live = clusters.iter().enumerate().filter(|(_, c)| c.live);
        let (first, then): (Vec<_>, Vec<_>) = live.partition(|(_, c)| fresh(c));
        for (c, cluster) in first.into_iter().chain(then) {
            let constants = cluster.tokens.iter().filter(|t| **t != WILDCARD).count();
            // What stays must still say which event this is.
            if constants < rules.min_constants || cluster.tokens.len() < width {
                continue;
            }
            // A template with `<*>` at a position joins that position's group
            // too, as one more value.
            let n = cluster.tokens.len();
            let hashes = &cluster.hashes;
            let is_fresh = fresh(cluster);
            suffix.clear();
            suffix.resize(n + 1, 0);
            for i in (0..n).rev() {
                suffix[i] = mix(suffix[i + 1], hashes[i]);
            }
            let mut prefix = 0;
            let shape = mix(n as u64, 0);
            for i in 0..=n - width {
                // Constant words outside the span.
                let outside = constants
                    - cluster.tokens[i..i + width]
                        .iter()
                        .filter(|t| **t != WILDCARD)
                        .count();
                if outside >= rules.min_constants {
                    let key = mix(mix(mix(shape, i as u64), prefix), suffix[i + width]);
                    let (word, mask) = bit(key);
                    if is_fresh {
                        keyed.push((key, c as u32, i as u32));
                        if since > 0 {
                            fresh_keys.push(key);
                            fresh_bits[word] |= mask;
                        }
                    } else if fresh_bits[word] & mask != 0 {
                        keyed.push((key, c as u32, i as u32));
                    }
                }
                prefix = mix(prefix, hashes[i]);
            }
        }
        if since > 0 {
            fresh_keys.sort_unstable();
            keyed.retain(|k| fresh_keys.binary_search(&k.0).is_ok());
        }
        keyed.sort_unstable();
        // (position, the template whose text keys the group, members)
        let mut groups: Vec<(usize, usize, Vec<usize>)> = Vec::new();
        let mut classes: Vec<(usize, usize, Vec<usize>)> = Vec::new();
        for bucket in keyed.chunk_by(|a, b| a.0 == b.0) {
            if bucket.len() < 2 {
                continue;
            }
            // Almost always one class: a hash collision is split here.
            for &(_, c, position) in bucket {
                let (c, position) = (c as usize, position as usize);
                let class = classes.iter_mut().find(|(p, rep, _)| {
                    *p == position
                        && same_but_in(&clusters[*rep].tokens, &clusters[c].tokens, position, width)
                });
                match class {
                    Some((_, _, members)) => members.push(c),
                    None => classes.push((position, c, vec![c])),
                }
            }
            groups.extend(classes.drain(..).filter(|(_, _, m)| m.len() >= 2));
        }
        // In the order of the key's text (the template with a NUL at the
        // position), compared without building it.
        groups.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                compare_keys(&clusters[a.1].tokens, &clusters[b.1].tokens, a.0, width)
            })
        });
        for (position, _, members) in groups {
            let live: Vec<usize> = members.into_iter().filter(|&c| clusters[c].live).collect();
            if live.len() < 2 {
                continue;
            }
            let span = position..position + width;
            if width == 1 {
                let values: BTreeSet<&str> =
                    live.iter().map(|&c| clusters[c].tokens[position]).collect();
                if values.len() < rules.min_values || (rules.states && are_states(&values)) {
                    continue;
                }
            } else {
                // The words the members' own templates hold there (a word
                // merged before counts with each of its values).
                let spans = || {
                    live.iter()
                        .flat_map(|&c| &clusters[c].members)
                        .map(|&m| &words[m][span.clone()])
                };
                let values: BTreeSet<&[&str]> = spans().collect();
                if values.len() < rules.min_values {
                    continue;
                }
                // Each word of the span varies (else fewer would differ)
                // and none reads as states.
                let column = |j: usize| spans().map(|s| s[j]).collect::<BTreeSet<&str>>();
                if (0..width)
                    .map(column)
                    .any(|column| column.len() < 2 || (rules.states && are_states(&column)))
                {
                    continue;
                }
            }
            let target = absorb(&mut clusters, &live);
            let target = &mut clusters[target];
            target.tokens[span.clone()].fill(WILDCARD);
            target.hashes[span].fill(wildcard_hash);
            target.changed_at = pass;
            changed = true;
        }
        if changed {
            width = 1;
        } else if width == 1 && rules.pairs {
            width = 2;
        } else {
            break;
        }
    }
    if rules.columns {
        merge_columns(&mut clusters, rules);
    }
    // Clusters that now read the same (a position became <*> in each) are one.
    let mut by_template: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for cluster in clusters.into_iter().filter(|c| c.live) {
        by_template
            .entry(cluster.tokens.join(" "))
            .or_default()
            .extend(cluster.members);
    }
    let mut merged: Vec<Merged> = by_template
        .into_iter()
        .map(|(template, mut members)| {
            members.sort_unstable();
            Merged { template, members }
        })
        .collect();
    if rules.optional_values {
        merged = merge_optional_values(merged, rules);
    }
    merged
}

/// Several word values in one message: the passes above merge templates
/// equal but for one word or two neighbouring words, so a message with two
/// or more word values apart (`session closed for user alice by su`),
/// whose combinations are each seen once, is left in pieces. As Brain
/// (Yu et al., 2023) does, the words' frequencies say which are values.
/// Among the templates of one length, a word's frequency is how many
/// input templates hold it at its position. A template's constant words
/// are the largest set of its words that share one frequency (of equal
/// sets, the more frequent), and every word more frequent than those; the
/// rarer words are its values. Templates whose constant words are the
/// same, at the same positions, merge when each value position takes
/// `min_values` values or more, none read as states, and `min_constants`
/// distinct constant words stay (a word said again, `at <*> at <*>`, does
/// not say more of which event it is). When the values outnumber the
/// constant words, the largest set is the values' and nothing merges.
fn merge_columns(clusters: &mut [Cluster], rules: MergeRules) {
    // A value's place in a key (any fixed number: keys are checked after).
    const VALUE: u64 = 0x9d1c_7a3b_55e2_0f41;
    let wildcard_hash = token_hash(WILDCARD);
    let mut by_length: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (c, cluster) in clusters.iter().enumerate().filter(|(_, c)| c.live) {
        by_length.entry(cluster.tokens.len()).or_default().push(c);
    }
    for (n, bucket) in by_length {
        if bucket.len() < 2 {
            continue;
        }
        let view: &[Cluster] = clusters;
        // How many input templates hold each word at its position: the
        // (position and word) hashes sorted, each run summed.
        let mut counted: Vec<(u64, u32, u32)> = Vec::with_capacity(bucket.len() * n);
        for (b, &c) in bucket.iter().enumerate() {
            for (i, &hash) in view[c].hashes.iter().enumerate() {
                counted.push((mix(i as u64, hash), b as u32, i as u32));
            }
        }
        counted.sort_unstable();
        let mut frequency = vec![0usize; bucket.len() * n];
        for run in counted.chunk_by(|a, b| a.0 == b.0) {
            let sum = run
                .iter()
                .map(|&(_, b, _)| view[bucket[b as usize]].members.len())
                .sum();
            for &(_, b, i) in run {
                frequency[b as usize * n + i as usize] = sum;
            }
        }
        // Each template's constant positions (by its index in the bucket),
        // and a hash of its constant words and where its values stand.
        let mut constant = vec![true; bucket.len() * n];
        let mut keyed: Vec<(u64, usize)> = Vec::new();
        let mut sorted: Vec<usize> = Vec::with_capacity(n);
        for (b, &c) in bucket.iter().enumerate() {
            let cluster = &view[c];
            let f = &frequency[b * n..(b + 1) * n];
            sorted.clear();
            sorted.extend(
                cluster
                    .tokens
                    .iter()
                    .zip(f)
                    .filter(|(t, _)| **t != WILDCARD)
                    .map(|(_, &f)| f),
            );
            sorted.sort_unstable();
            // The largest set of words of one frequency; of equal sets,
            // the more frequent (the sets come in rising frequency).
            let Some(root) = sorted
                .chunk_by(|a, b| a == b)
                .fold(None, |best: Option<&[usize]>, run| match best {
                    Some(best) if best.len() > run.len() => Some(best),
                    _ => Some(run),
                })
                .map(|run| run[0])
            else {
                continue;
            };
            let mut key = mix(n as u64, 0);
            let mut values = false;
            for i in 0..n {
                let is_constant = cluster.tokens[i] == WILDCARD || f[i] >= root;
                constant[b * n + i] = is_constant;
                key = mix(
                    key,
                    if is_constant {
                        cluster.hashes[i]
                    } else {
                        VALUE
                    },
                );
                values |= !is_constant;
            }
            if values {
                keyed.push((key, b));
            }
        }
        keyed.sort_unstable();
        let same = |a: usize, b: usize| {
            (0..n).all(|i| {
                constant[a * n + i] == constant[b * n + i]
                    && (!constant[a * n + i]
                        || view[bucket[a]].tokens[i] == view[bucket[b]].tokens[i])
            })
        };
        let mut merges: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
        let mut classes: Vec<Vec<usize>> = Vec::new();
        for chunk in keyed.chunk_by(|a, b| a.0 == b.0) {
            if chunk.len() < 2 {
                continue;
            }
            // Almost always one class: a hash collision is split here.
            for &(_, b) in chunk {
                match classes.iter_mut().find(|class| same(class[0], b)) {
                    Some(class) => class.push(b),
                    None => classes.push(vec![b]),
                }
            }
            for class in classes.drain(..).filter(|class| class.len() >= 2) {
                let first = class[0];
                let tokens = &view[bucket[first]].tokens;
                // Distinct words: a word said again (`at <*> at <*>`) does
                // not say more of which event it is.
                let constants: BTreeSet<&str> = (0..n)
                    .filter(|&i| constant[first * n + i] && tokens[i] != WILDCARD)
                    .map(|i| tokens[i])
                    .collect();
                if constants.len() < rules.min_constants {
                    continue;
                }
                let varying: Vec<usize> = (0..n).filter(|&i| !constant[first * n + i]).collect();
                let ok = varying.iter().all(|&i| {
                    let values: BTreeSet<&str> =
                        class.iter().map(|&b| view[bucket[b]].tokens[i]).collect();
                    values.len() >= rules.min_values && !(rules.states && are_states(&values))
                });
                if ok {
                    merges.push((class.iter().map(|&b| bucket[b]).collect(), varying));
                }
            }
        }
        for (members, varying) in merges {
            let target = absorb(clusters, &members);
            let target = &mut clusters[target];
            for i in varying {
                target.tokens[i] = WILDCARD;
                target.hashes[i] = wildcard_hash;
            }
        }
    }
}

/// Moves the members of the group's other clusters into its first, which
/// stays live, and returns the first.
fn absorb(clusters: &mut [Cluster], group: &[usize]) -> usize {
    let (&first, rest) = group.split_first().expect("two or more");
    let mut moved = Vec::new();
    for &c in rest {
        clusters[c].live = false;
        moved.append(&mut clusters[c].members);
    }
    clusters[first].members.append(&mut moved);
    first
}

/// Whether two templates' words are the same but for the `width` words
/// from `position`.
fn same_but_in(a: &[&str], b: &[&str], position: usize, width: usize) -> bool {
    let span = position..position + width;
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .enumerate()
            .all(|(j, (x, y))| span.contains(&j) || x == y)
}

/// How two groups' keys compare as text: each template's words joined by
/// spaces, with a NUL for each of the `width` words from `position`.
/// Compared word by word, without building the text, and with the text's
/// order (a word that is a prefix of the other is followed by a space, or
/// by nothing at the end).
fn compare_keys(a: &[&str], b: &[&str], position: usize, width: usize) -> std::cmp::Ordering {
    fn word<'t>(tokens: &[&'t str], j: usize, span: &std::ops::Range<usize>) -> &'t [u8] {
        if span.contains(&j) {
            b"\0"
        } else {
            tokens[j].as_bytes()
        }
    }
    let span = position..position + width;
    for j in 0..a.len().min(b.len()) {
        let (x, y) = (word(a, j, &span), word(b, j, &span));
        if x == y {
            continue;
        }
        let common = x.len().min(y.len());
        if let Some(k) = (0..common).find(|&k| x[k] != y[k]) {
            return x[k].cmp(&y[k]);
        }
        // One word is a prefix of the other: what follows the shorter in
        // the text is a space, or nothing if it is the last word.
        let after = |tokens: &[&str]| {
            if j + 1 < tokens.len() {
                Some(b' ')
            } else {
                None
            }
        };
        return if x.len() < y.len() {
            after(a).cmp(&Some(y[common]))
        } else {
            Some(x[common]).cmp(&after(b))
        };
    }
    a.len().cmp(&b.len())
}

/// How many spaces a template holds (its words less one).
fn bytecount_spaces(template: &str) -> usize {
    memchr::memchr_iter(b' ', template.as_bytes()).count()
}

/// FNV-1a 64 of a token: fixed, so the merge is the same on every replica.
fn token_hash(token: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Chains token hashes in order.
fn mix(acc: u64, token: u64) -> u64 {
    (acc.rotate_left(29) ^ token).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A template's constant words in order: the tokens that are not values
/// alone (`<*>`, `(<*>)`, `<*>,` are values with their punctuation).
pub fn skeleton(template: &str) -> Vec<&str> {
    template
        .split(' ')
        // `<*>` is punctuation itself: a word of punctuation and `<*>`s
        // only is a value with its punctuation.
        .filter(|t| !t.bytes().all(|b| b.is_ascii_punctuation()))
        .collect()
}

/// The longest run of words that [`without_repeats`] takes for one item of
/// a list (`<*> <ok>`: one word; `<bottom of call stack>`: four).
pub const MAX_ITEM_WORDS: usize = 4;

/// A skeleton with every list of repeated items cut to two items: a list
/// of records (`node-1 0x1fc <ok> node-2 0x1fc <ok> ...`, whose skeleton
/// is `<ok> <ok> ...`) is the same event whatever its length. Two items
/// stay, so that a word said twice is not taken for a list of one.
pub fn without_repeats<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    'words: while i < words.len() {
        for len in (1..=MAX_ITEM_WORDS).take_while(|len| i + 2 * len <= words.len()) {
            let item = &words[i..i + len];
            if words[i + len..i + 2 * len] == *item {
                let mut end = i + 2 * len;
                while end + len <= words.len() && words[end..end + len] == *item {
                    end += len;
                }
                out.extend_from_slice(&words[i..i + 2 * len]);
                i = end;
                continue 'words;
            }
        }
        out.push(words[i]);
        i += 1;
    }
    out
}

/// Groups with the same skeleton are one event: a value that is there or
/// not (an aside `(1.16 KB)` printed for large sizes only, an empty user
/// name, `()` beside `(host.example.com)`) or a list of any length does
/// not make another event. The skeleton must still say which event it is:
/// `min_constants` words, as many as a single-position merge keeps besides
/// its value. The group shows its shortest member template (the event
/// without its optional values); of equal lengths, the one that shows the
/// most values (`(<*>)` rather than `()`), then the first in text order,
/// whatever the counts: the pattern id shown stays the same from one
/// window to another.
fn merge_optional_values(merged: Vec<Merged>, rules: MergeRules) -> Vec<Merged> {
    let mut by_skeleton: BTreeMap<Vec<String>, Vec<Merged>> = BTreeMap::new();
    let mut out = Vec::new();
    for m in merged {
        let key: Vec<String> = without_repeats(&skeleton(&m.template))
            .into_iter()
            .map(str::to_string)
            .collect();
        if key.len() < rules.min_constants {
            out.push(m);
        } else {
            by_skeleton.entry(key).or_default().push(m);
        }
    }
    for (_, group) in by_skeleton {
        let shown = group
            .iter()
            .min_by(|a, b| {
                a.template
                    .split(' ')
                    .count()
                    .cmp(&b.template.split(' ').count())
                    .then_with(|| wildcards(&b.template).cmp(&wildcards(&a.template)))
                    .then_with(|| a.template.cmp(&b.template))
            })
            .expect("a group has members")
            .template
            .clone();
        let mut members: Vec<usize> = group.into_iter().flat_map(|m| m.members).collect();
        members.sort_unstable();
        out.push(Merged {
            template: shown,
            members,
        });
    }
    out.sort_by(|a, b| a.template.cmp(&b.template));
    out
}

/// How many values a template shows (`<*>`, alone or within a word).
fn wildcards(template: &str) -> usize {
    template.matches(WILDCARD).count()
}

/// Whether the words taking one position read as the states of an
/// enumeration rather than as values of a variable: all written in
/// capitals (`GET`/`POST`/`DELETE`, `LOOKING`/`FOLLOWING`: constants by the
/// usual naming), or all the same verb form (`Started`/`Stopped`/`Paused`,
/// `Acquiring`/`Releasing`, `enable`/`disable`), or two of them opposites
/// (`start`/`stop`/`restart`, see [`has_opposites`]). Each is then an
/// event of its own. A masked value among them is not a word and is left
/// out.
pub fn are_states(values: &BTreeSet<&str>) -> bool {
    let words: Vec<&str> = values
        .iter()
        .copied()
        .filter(|v| *v != WILDCARD)
        .map(|v| v.trim_matches(|c: char| c.is_ascii_punctuation()))
        .collect();
    if words.len() < 2 || words.iter().any(|w| w.len() < 2) {
        return false;
    }
    let capitals = words.iter().all(|w| {
        w.bytes().any(|b| b.is_ascii_uppercase())
            && w.bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
    });
    let letters = |w: &&str| w.bytes().all(|b| b.is_ascii_alphabetic());
    let verb_form = words.iter().all(letters)
        && ["ed", "ing", "able"].iter().any(|suffix| {
            words
                .iter()
                .all(|w| w.len() > suffix.len() + 1 && w.to_ascii_lowercase().ends_with(suffix))
        });
    capitals || verb_form || has_opposites(&words)
}

/// Prefixes that make a word's opposite or repetition (`unmount`,
/// `disconnect`, `restart`, `deactivate`, `invalid`, `nonblocking`).
const OPPOSING_PREFIXES: [&str; 6] = ["un", "dis", "re", "de", "in", "non"];

/// Stems of words that name opposite states or actions, by twos.
const OPPOSITES: [(&str, &str); 14] = [
    ("start", "stop"),
    ("online", "offline"),
    ("open", "clos"),
    ("enter", "exit"),
    ("begin", "end"),
    ("add", "remov"),
    ("allow", "den"),
    ("accept", "reject"),
    ("succe", "fail"),
    ("read", "writ"),
    ("attach", "detach"),
    ("creat", "delet"),
    ("creat", "destroy"),
    ("push", "pop"),
];

/// Short words that name opposite states, by twos: whole words (as stems,
/// `on` or `in` would begin half the dictionary).
const OPPOSITE_WORDS: [(&str, &str); 10] = [
    ("up", "down"),
    ("on", "off"),
    ("yes", "no"),
    ("in", "out"),
    ("high", "low"),
    ("min", "max"),
    ("master", "slave"),
    ("leader", "follower"),
    ("primary", "secondary"),
    ("grant", "revoke"),
];

/// Whether two of the words name opposite states: one is the other with
/// an opposing prefix (`mount`/`unmount`, `start`/`restart`), they
/// begin with the stems of an opposite pair (`started`/`stopped`,
/// `opening`/`closed`), or they are a pair of short opposite words
/// (`up`/`down`, `on`/`off`). Such words keep events apart however many
/// values the position takes (`start`/`stop`/`restart`).
fn has_opposites(words: &[&str]) -> bool {
    // Linear in the words: a position may take thousands of values.
    let lower: BTreeSet<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let prefixed = lower.iter().any(|w| {
        OPPOSING_PREFIXES.iter().any(|p| {
            w.strip_prefix(p)
                .is_some_and(|rest| rest.len() >= 3 && lower.contains(rest))
        })
    });
    prefixed
        || OPPOSITES.iter().any(|(x, y)| {
            lower.iter().any(|w| w.starts_with(x)) && lower.iter().any(|w| w.starts_with(y))
        })
        || OPPOSITE_WORDS
            .iter()
            .any(|(x, y)| lower.contains(*x) && lower.contains(*y))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each expected group: its merged template, then `<=` and its members joined by ` | `.
    fn check(input: &[&str], expected: &[&str]) {
        let templates: Vec<(&str, u64)> = input.iter().map(|t| (*t, 1)).collect();
        let mut got: Vec<String> = merge_templates(&templates)
            .into_iter()
            .map(|m| {
                let mut members: Vec<&str> = m.members.iter().map(|&i| input[i]).collect();
                members.sort();
                format!("{} <= {}", m.template, members.join(" | "))
            })
            .collect();
        got.sort();
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(got, expected, "input {input:?}");
        // The same set in another order gives the same groups.
        let mut reversed: Vec<(&str, u64)> = templates.clone();
        reversed.reverse();
        let mut again: Vec<String> = merge_templates(&reversed)
            .into_iter()
            .map(|m| m.template)
            .collect();
        again.sort();
        let mut first: Vec<String> = merge_templates(&templates)
            .into_iter()
            .map(|m| m.template)
            .collect();
        first.sort();
        assert_eq!(again, first, "order changed the result for {input:?}");
    }

    #[test]
    fn merges_word_variables_with_many_values() {
        check(
            &["Invalid user bob from <*>", "Invalid user alice from <*>", "Invalid user carol from <*>"],
            &["Invalid user <*> from <*> <= Invalid user alice from <*> | Invalid user bob from <*> | Invalid user carol from <*>"],
        );
        // A masked value counts as one more value.
        check(
            &["session closed for user root", "session closed for user news", "session closed for user <*>"],
            &["session closed for user <*> <= session closed for user <*> | session closed for user news | session closed for user root"],
        );
        // Two word positions, merged one after the other.
        check(
            &["copy a to x done", "copy b to x done", "copy c to x done", "copy a to y done", "copy a to z done"],
            &["copy <*> to <*> done <= copy a to x done | copy a to y done | copy a to z done | copy b to x done | copy c to x done"],
        );
    }

    #[test]
    fn merges_a_value_written_as_two_words() {
        // A date's day and month: the day merges alone within a month,
        // then day and month together (counting the days merged before).
        check(
            &[
                "connection from <*> at Fri Jul <*>",
                "connection from <*> at Mon Jun <*>",
                "connection from <*> at Sat Jun <*>",
                "connection from <*> at Fri Jun <*>",
            ],
            &["connection from <*> at <*> <*> <*> <= connection from <*> at Fri Jul <*> | connection from <*> at Fri Jun <*> | connection from <*> at Mon Jun <*> | connection from <*> at Sat Jun <*>"],
        );
        // A full name.
        check(
            &[
                "login by John Smith from console",
                "login by Ada Lovelace from console",
                "login by Alan Turing from console",
            ],
            &["login by <*> <*> from console <= login by Ada Lovelace from console | login by Alan Turing from console | login by John Smith from console"],
        );
        // Not when one of the two words reads as states: a service and
        // what happened to it.
        check(
            &[
                "service api started on node",
                "service db stopped on node",
                "service web started on node",
            ],
            &[
                "service api started on node <= service api started on node",
                "service db stopped on node <= service db stopped on node",
                "service web started on node <= service web started on node",
            ],
        );
        // Nor when too few constant words stay besides the two.
        check(
            &["at Fri Jul <*>", "at Mon Jun <*>", "at Sat Aug <*>"],
            &[
                "at Fri Jul <*> <= at Fri Jul <*>",
                "at Mon Jun <*> <= at Mon Jun <*>",
                "at Sat Aug <*> <= at Sat Aug <*>",
            ],
        );
        // Templates shorter than two words, whatever the thresholds.
        let loose = MergeRules {
            min_values: 2,
            min_constants: 0,
            ..MergeRules::default()
        };
        let merged = merge_templates_with(&[("a", 1), ("b", 1), ("c", 1)], loose);
        assert_eq!(merged.len(), 1, "{merged:?}");
        assert_eq!(merged[0].template, "<*>");
        // Off (and the merge by frequent words, which joins them too):
        // the pair stays apart.
        let off = MergeRules {
            pairs: false,
            columns: false,
            ..MergeRules::default()
        };
        let templates = [
            ("login by John Smith from console", 1),
            ("login by Ada Lovelace from console", 1),
            ("login by Alan Turing from console", 1),
        ];
        assert_eq!(merge_templates_with(&templates, off).len(), 3);
    }

    #[test]
    fn merges_several_word_values_by_their_frequent_words() {
        // Two word values apart: no two templates are equal but for one
        // word or two neighbouring words.
        let closed = [
            "session closed for user alice by su",
            "session closed for user bob by sshd",
            "session closed for user carol by login",
            "session closed for user dave by cron",
        ];
        check(
            &closed,
            &["session closed for user <*> by <*> <= session closed for user alice by su | session closed for user bob by sshd | session closed for user carol by login | session closed for user dave by cron"],
        );
        // Switched off, each stays alone.
        let off = MergeRules {
            columns: false,
            ..MergeRules::default()
        };
        let templates: Vec<(&str, u64)> = closed.iter().map(|t| (*t, 1)).collect();
        assert_eq!(merge_templates_with(&templates, off).len(), 4);
        // Too few values in a position: two programs only.
        check(
            &[
                "session closed for user alice by su",
                "session closed for user bob by sshd",
                "session closed for user carol by su",
            ],
            &[
                "session closed for user alice by su <= session closed for user alice by su",
                "session closed for user bob by sshd <= session closed for user bob by sshd",
                "session closed for user carol by su <= session closed for user carol by su",
            ],
        );
        // States: the verbs stay apart (all one verb form).
        check(
            &[
                "job alpha started on node red",
                "job beta stopped on node green",
                "job gamma paused on node blue",
            ],
            &[
                "job alpha started on node red <= job alpha started on node red",
                "job beta stopped on node green <= job beta stopped on node green",
                "job gamma paused on node blue <= job gamma paused on node blue",
            ],
        );
        // A word said again does not count twice: `at`, the most frequent
        // words here, is one word, too few to say which event it is.
        check(
            &[
                "cache at <*> alice at <*> at <*> at <*>",
                "queue at <*> bob at <*> at <*> at <*>",
                "disk at <*> carol at <*> at <*> at <*>",
            ],
            &[
                "cache at <*> alice at <*> at <*> at <*> <= cache at <*> alice at <*> at <*> at <*>",
                "disk at <*> carol at <*> at <*> at <*> <= disk at <*> carol at <*> at <*> at <*>",
                "queue at <*> bob at <*> at <*> at <*> <= queue at <*> bob at <*> at <*> at <*>",
            ],
        );
        // When the values outnumber the constant words, the largest set of
        // words of one frequency is the values': nothing merges.
        check(
            &[
                "alice paid bob ten coins",
                "carol paid dave six coins",
                "erin paid frank two coins",
            ],
            &[
                "alice paid bob ten coins <= alice paid bob ten coins",
                "carol paid dave six coins <= carol paid dave six coins",
                "erin paid frank two coins <= erin paid frank two coins",
            ],
        );
    }

    #[test]
    fn keeps_apart_what_differs_in_few_values_or_short_messages() {
        // Two values: probably two events.
        check(
            &["Connection to db opened now", "Connection to db closed now"],
            &[
                "Connection to db closed now <= Connection to db closed now",
                "Connection to db opened now <= Connection to db opened now",
            ],
        );
        // Too few constant words left to say which event it is.
        check(
            &["active", "normal", "running"],
            &["active <= active", "normal <= normal", "running <= running"],
        );
        check(
            &[
                "halt (command <*>)",
                "boot (command <*>)",
                "wait (command <*>)",
            ],
            &[
                "boot (command <*>) <= boot (command <*>)",
                "halt (command <*>) <= halt (command <*>)",
                "wait (command <*>) <= wait (command <*>)",
            ],
        );
        // Different lengths never merge.
        check(
            &[
                "user a logged in",
                "user b logged in",
                "user c logged in now",
            ],
            &[
                "user a logged in <= user a logged in",
                "user b logged in <= user b logged in",
                "user c logged in now <= user c logged in now",
            ],
        );
        check(&[], &[]);
    }

    #[test]
    fn a_value_there_or_not_is_the_same_event() {
        // An aside printed for large sizes only, on either side.
        check(
            &[
                "<*> close, <*> bytes sent, <*> bytes received, lifetime <*>",
                "<*> close, <*> bytes (<*>) sent, <*> bytes received, lifetime <*>",
                "<*> close, <*> bytes sent, <*> bytes (<*>) received, lifetime <*>",
            ],
            &["<*> close, <*> bytes sent, <*> bytes received, lifetime <*> <= <*> close, <*> bytes (<*>) sent, <*> bytes received, lifetime <*> | <*> close, <*> bytes sent, <*> bytes (<*>) received, lifetime <*> | <*> close, <*> bytes sent, <*> bytes received, lifetime <*>"],
        );
        assert_eq!(skeleton("a <*> (<*>) [<*>], b <*>,"), vec!["a", "b"]);
        // An empty value beside a filled one: three constant words, as
        // many as a single-position merge keeps, say which event it is.
        // The group shows the template that shows where the value stands.
        check(
            &[
                "connection from <*> () at <*>",
                "connection from <*> (<*>) at <*>",
            ],
            &["connection from <*> (<*>) at <*> <= connection from <*> () at <*> | connection from <*> (<*>) at <*>"],
        );
        check(
            &[
                "user <*> logged in",
                "user logged in",
                "user [<*>] logged in",
            ],
            &["user logged in <= user <*> logged in | user [<*>] logged in | user logged in"],
        );
        // Two constant words are too few.
        check(
            &["logged in", "logged (<*>) in"],
            &[
                "logged in <= logged in",
                "logged (<*>) in <= logged (<*>) in",
            ],
        );
        // The constant words must say which event it is, in their order.
        check(
            &["disk <*> full", "disk full <*>"],
            &[
                "disk <*> full <= disk <*> full",
                "disk full <*> <= disk full <*>",
            ],
        );
        check(
            &["copy from <*> to <*> done", "copy to <*> from <*> done"],
            &[
                "copy from <*> to <*> done <= copy from <*> to <*> done",
                "copy to <*> from <*> done <= copy to <*> from <*> done",
            ],
        );
    }

    #[test]
    fn a_list_of_records_is_one_event_whatever_its_length() {
        check(
            &[
                "inconsistent nodesets <*> <ok> <*> <ok>",
                "inconsistent nodesets <*> <ok> <*> <ok> <*> <ok> <*> <ok> <*> <ok>",
                "inconsistent nodesets <*> <ok> <*> <ok> <*> <ok>",
            ],
            &["inconsistent nodesets <*> <ok> <*> <ok> <= inconsistent nodesets <*> <ok> <*> <ok> | inconsistent nodesets <*> <ok> <*> <ok> <*> <ok> | inconsistent nodesets <*> <ok> <*> <ok> <*> <ok> <*> <ok> <*> <ok>"],
        );
        // A word said twice is not a list of one.
        check(
            &["copy <*> to <*> to <*> done", "copy <*> to <*> done"],
            &[
                "copy <*> to <*> done <= copy <*> to <*> done",
                "copy <*> to <*> to <*> done <= copy <*> to <*> to <*> done",
            ],
        );
        let words = |s: &'static str| s.split(' ').collect::<Vec<&str>>();
        assert_eq!(
            without_repeats(&words("called by <bottom of call stack> <bottom of call stack> <bottom of call stack> end")),
            words("called by <bottom of call stack> <bottom of call stack> end")
        );
        assert_eq!(
            without_repeats(&words("a b a b a b a c c c")),
            words("a b a b a c c")
        );
        assert_eq!(without_repeats(&words("x")), words("x"));
        assert!(without_repeats(&[]).is_empty());
    }

    #[test]
    fn keys_compare_as_their_text() {
        // The merge orders groups by their key's text; it compares word by
        // word without building the text, and must agree with it.
        let words = ["a", "ab", "a!", "a\u{1}", "b", "<*>", "", "é"];
        let mut templates: Vec<Vec<&str>> = Vec::new();
        for x in words {
            templates.push(vec![x]);
            for y in words {
                templates.push(vec![x, y]);
                templates.push(vec![x, y, "z"]);
            }
        }
        let text = |t: &[&str], position: usize, width: usize| {
            let words: Vec<&str> = (0..t.len())
                .map(|j| {
                    if (position..position + width).contains(&j) {
                        "\0"
                    } else {
                        t[j]
                    }
                })
                .collect();
            words.join(" ")
        };
        for a in &templates {
            for b in &templates {
                for width in 1..=2 {
                    for position in 0..=3 - width {
                        assert_eq!(
                            compare_keys(a, b, position, width),
                            text(a, position, width).cmp(&text(b, position, width)),
                            "{a:?} {b:?} at {position}, {width} wide"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn keeps_states_of_an_enumeration_apart() {
        // Same verb form: each state is its own event.
        check(
            &[
                "[instance: <*>] VM Started (Lifecycle Event)",
                "[instance: <*>] VM Stopped (Lifecycle Event)",
                "[instance: <*>] VM Paused (Lifecycle Event)",
                "[instance: <*>] VM Resumed (Lifecycle Event)",
            ],
            &[
                "[instance: <*>] VM Paused (Lifecycle Event) <= [instance: <*>] VM Paused (Lifecycle Event)",
                "[instance: <*>] VM Resumed (Lifecycle Event) <= [instance: <*>] VM Resumed (Lifecycle Event)",
                "[instance: <*>] VM Started (Lifecycle Event) <= [instance: <*>] VM Started (Lifecycle Event)",
                "[instance: <*>] VM Stopped (Lifecycle Event) <= [instance: <*>] VM Stopped (Lifecycle Event)",
            ],
        );
        // Capitals: constants of an enumeration (methods, states).
        check(
            &[
                "<*> \"GET <*> <*>\" status: <*> len: <*>",
                "<*> \"POST <*> <*>\" status: <*> len: <*>",
                "<*> \"DELETE <*> <*>\" status: <*> len: <*>",
            ],
            &[
                "<*> \"DELETE <*> <*>\" status: <*> len: <*> <= <*> \"DELETE <*> <*>\" status: <*> len: <*>",
                "<*> \"GET <*> <*>\" status: <*> len: <*> <= <*> \"GET <*> <*>\" status: <*> len: <*>",
                "<*> \"POST <*> <*>\" status: <*> len: <*> <= <*> \"POST <*> <*>\" status: <*> len: <*>",
            ],
        );
        // Opposite actions: each is its own event.
        check(
            &[
                "service <*> start requested by <*>",
                "service <*> stop requested by <*>",
                "service <*> restart requested by <*>",
            ],
            &[
                "service <*> restart requested by <*> <= service <*> restart requested by <*>",
                "service <*> start requested by <*> <= service <*> start requested by <*>",
                "service <*> stop requested by <*> <= service <*> stop requested by <*>",
            ],
        );
        // Names of any case and form are values.
        check(
            &["Invalid user Bob from <*>", "Invalid user ADMIN from <*>", "Invalid user carol from <*>"],
            &["Invalid user <*> from <*> <= Invalid user ADMIN from <*> | Invalid user Bob from <*> | Invalid user carol from <*>"],
        );
        let set = |v: &[&'static str]| v.iter().copied().collect::<BTreeSet<&str>>();
        assert!(are_states(&set(&["enable", "disable", "<*>"])));
        assert!(are_states(&set(&["Acquiring", "Releasing"])));
        assert!(!are_states(&set(&["root", "news", "cyrus"])));
        assert!(
            !are_states(&set(&["fed", "bed"])),
            "too short to be a verb form"
        );
        assert!(!are_states(&set(&["GET", "post"])));
        // Opposites: by a prefix, or by the stems of a pair.
        assert!(are_states(&set(&["start", "stop", "restart"])));
        assert!(are_states(&set(&["mount", "unmount", "<*>"])));
        assert!(are_states(&set(&["opening", "closed", "reset"])));
        assert!(are_states(&set(&["valid", "invalid", "expired"])));
        // Short opposites, as whole words only.
        assert!(are_states(&set(&["up", "down", "degraded"])));
        assert!(are_states(&set(&["ON", "off", "<*>"])));
        assert!(!are_states(&set(&["online", "offset", "other"])));
        assert!(!are_states(&set(&["upstream", "downtown", "midtown"])));
        assert!(!are_states(&set(&["alice", "bob", "carol", "dave"])));
        assert!(
            !are_states(&set(&["ad", "read", "mail"])),
            "a prefix of two letters is no word"
        );
        // A threshold of its own: states merge when told not to keep them.
        let rules = MergeRules {
            states: false,
            ..MergeRules::default()
        };
        let merged = merge_templates_with(
            &[
                ("a b c VM Started", 1),
                ("a b c VM Stopped", 1),
                ("a b c VM Paused", 1),
            ],
            rules,
        );
        assert_eq!(merged.len(), 1);
    }
}
