//! Any text as a log message: templating never panics (it slices words at
//! byte positions, so a cut inside a character would), the template is
//! words joined by single spaces, the pattern id is its hash, and the
//! query-time merge of the lines' templates puts each in exactly one group.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_patterns::{merge_templates, pattern_id_of, pattern_of, template_of_with, Rules};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pattern = pattern_of(&text);
    let t = &pattern.template;
    assert!(!t.starts_with(' ') && !t.ends_with(' ') && !t.contains("  "), "{t:?}");
    assert!(t.chars().all(|c| c == ' ' || !c.is_whitespace()), "{t:?}");
    assert_eq!(pattern.pattern_id, pattern_id_of(t));
    assert_eq!(pattern_of(&text), pattern, "not a function of the message");
    // Each rule alone, and none, are as safe.
    for (_, rule) in Rules::EACH {
        let _ = template_of_with(&text, Rules::NONE.with(rule));
    }
    let templates: Vec<String> = text.lines().map(|l| pattern_of(l).template).collect();
    let counted: Vec<(&str, u64)> = templates.iter().map(|t| (t.as_str(), 1)).collect();
    let mut seen = vec![0u32; counted.len()];
    for group in merge_templates(&counted) {
        for m in group.members {
            seen[m] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
});
