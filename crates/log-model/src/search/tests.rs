use super::*;

fn search(req: SearchRequest) -> Result<SearchQuery, String> {
    req.into_query(Utc::now(), Tenants::All)
        .map_err(|e| e.field)
}

fn with_filter(filter: FilterParams) -> SearchRequest {
    SearchRequest {
        filter,
        ..Default::default()
    }
}

#[test]
fn validates_search_requests() {
    let q = search(SearchRequest {
        filter: FilterParams {
            query: Some("error".into()),
            level: Some("err".into()),
            ..Default::default()
        },
        limit: Some(50),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        q.filter.expr,
        Expr::And(vec![
            Expr::Leaf(Leaf::Word("error".into())),
            Expr::Leaf(Leaf::Levels(vec![Level::Error]))
        ])
    );
    assert_eq!(q.limit, 50);
    assert_eq!(
        search(SearchRequest::default()).unwrap().limit,
        DEFAULT_LIMIT
    );
    let bad = |req: SearchRequest, field: &str| assert_eq!(search(req).unwrap_err(), field);
    let limit = |limit| SearchRequest {
        limit: Some(limit),
        ..Default::default()
    };
    bad(limit(0), "limit");
    bad(limit(1001), "limit");
    bad(
        SearchRequest {
            offset: Some(9500),
            limit: Some(1000),
            ..Default::default()
        },
        "offset",
    );
    bad(
        with_filter(FilterParams {
            level: Some("loud".into()),
            ..Default::default()
        }),
        "level",
    );
    bad(
        with_filter(FilterParams {
            start_time: Some("noon".into()),
            ..Default::default()
        }),
        "start_time",
    );
    bad(
        with_filter(FilterParams {
            start_time: Some("2024-01-02T00:00:00Z".into()),
            end_time: Some("2024-01-01T00:00:00Z".into()),
            ..Default::default()
        }),
        "end_time",
    );
    bad(
        with_filter(FilterParams {
            query: Some("(a".into()),
            ..Default::default()
        }),
        "query",
    );
    bad(
        SearchRequest {
            cursor: Some("zz".into()),
            ..Default::default()
        },
        "cursor",
    );
    bad(
        SearchRequest {
            order: Some("up".into()),
            ..Default::default()
        },
        "order",
    );
}

#[test]
fn requests_read_from_query_strings_and_json_alike() {
    let from_json: SearchRequest =
        serde_json::from_str(r#"{"query":"a","limit":5,"offset":"2"}"#).unwrap();
    assert_eq!(from_json.limit, Some(5));
    assert_eq!(from_json.offset, Some(2));
    assert_eq!(from_json.filter.query.as_deref(), Some("a"));
    assert!(serde_json::from_str::<SearchRequest>(r#"{"limit":"five"}"#).is_err());
}

#[test]
fn relative_times() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    assert_eq!(parse_time("now", now).unwrap(), now);
    assert_eq!(
        parse_time("now-15m", now).unwrap(),
        now - Duration::minutes(15)
    );
    assert_eq!(parse_time("now-2h", now).unwrap(), now - Duration::hours(2));
    assert_eq!(parse_time("now+1d", now).unwrap(), now + Duration::days(1));
    assert_eq!(parse_time("now-1w", now).unwrap(), now - Duration::days(7));
    assert_eq!(
        parse_time("now-30s", now).unwrap(),
        now - Duration::seconds(30)
    );
    for bad in [
        "now-",
        "now-5",
        "now-5y",
        "now*2",
        "now-m",
        "now-99999999999999999w",
        "yesterday",
    ] {
        assert!(parse_time(bad, now).is_err(), "{bad}");
    }
    assert_eq!(
        parse_time("2026-11-28T10:00:00Z", now).unwrap(),
        "2026-11-28T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
}

#[test]
fn cursors_round_trip_and_refuse_forgeries() {
    let c = Cursor {
        order: SortOrder::Asc,
        key: SortKey {
            ts: -5,
            id: "0193-abc".into(),
        },
    };
    assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
    for bad in [
        "",
        "abc",
        "zz",
        &hex(b"x1:a"),
        &hex(b"d1:"),
        &hex(b"dx:a"),
        &hex(b"d1:a b"),
    ] {
        assert!(Cursor::parse(bad).is_err(), "{bad}");
    }
    // A cursor sets the order it was made in.
    let q = SearchRequest {
        cursor: Some(c.to_string()),
        ..Default::default()
    }
    .into_query(Utc::now(), Tenants::All)
    .unwrap();
    assert_eq!(q.order, SortOrder::Asc);
    assert_eq!(q.after, Some(c.key));
}

#[test]
fn histogram_intervals() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let q = HistogramRequest::default()
        .into_query(now, Tenants::All)
        .unwrap();
    assert_eq!(q.interval_ms, 600_000, "a day in 10-minute buckets");
    assert_eq!(q.bucket_starts().len(), 144);
    let week = HistogramRequest {
        filter: FilterParams {
            start_time: Some("now-7d".into()),
            ..Default::default()
        },
        ..Default::default()
    }
    .into_query(now, Tenants::All)
    .unwrap();
    assert_eq!(week.interval_ms, 3_600_000 * 2);
    assert_eq!(parse_interval("5m"), Some(300_000));
    assert_eq!(parse_interval("0m"), None);
    assert_eq!(parse_interval("m"), None);
    let too_fine = HistogramRequest {
        interval: Some("1s".into()),
        ..Default::default()
    };
    assert_eq!(
        too_fine.into_query(now, Tenants::All).unwrap_err().field,
        "interval"
    );
}

#[test]
fn patterns_window_defaults_to_a_day_of_errors() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let q = PatternsRequest::default()
        .into_query(now, Tenants::All)
        .unwrap();
    assert_eq!(q.end, now);
    assert_eq!(q.start, now - Duration::hours(24));
    assert_eq!(
        q.filter.expr,
        Expr::Leaf(Leaf::Levels(vec![Level::Error, Level::Critical]))
    );
    let q = PatternsRequest {
        hours: Some(1.5),
        ..Default::default()
    }
    .into_query(now, Tenants::All)
    .unwrap();
    assert_eq!(q.start, now - Duration::minutes(90));
    let err = PatternsRequest {
        hours: Some(0.0),
        ..Default::default()
    }
    .into_query(now, Tenants::All)
    .unwrap_err();
    assert_eq!(err.field, "hours");
    let err = PatternsRequest {
        buckets: Some(0),
        ..Default::default()
    }
    .into_query(now, Tenants::All)
    .unwrap_err();
    assert_eq!(err.field, "buckets");
    let err = PatternsRequest {
        new_since: Some("soon".into()),
        ..Default::default()
    }
    .into_query(now, Tenants::All)
    .unwrap_err();
    assert_eq!(err.field, "new_since");
}

#[test]
fn trend_buckets_split_the_window_equally() {
    let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
    let q = PatternsRequest {
        hours: Some(24.0),
        ..Default::default()
    }
    .into_query(now, Tenants::All)
    .unwrap();
    let at = |h: i64| (q.start + Duration::hours(h)).timestamp_micros();
    assert_eq!(q.buckets, 24);
    assert_eq!(q.bucket_of(at(0)), 0);
    assert_eq!(q.bucket_of(at(1) - 1), 0);
    assert_eq!(q.bucket_of(at(1)), 1);
    assert_eq!(q.bucket_of(at(24) - 1), 23);
    assert_eq!(q.bucket_of(at(30)), 23, "clamped");
    assert_eq!(q.bucket_of(at(-2)), 0, "clamped");
    assert_eq!(q.bucket_millis(), 3_600_000);
}

// Regression (issue 9, finding 10): hours=NaN answered 200.
#[test]
fn refuses_hours_that_are_not_numbers() {
    for hours in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0] {
        let req = PatternsRequest {
            hours: Some(hours),
            ..Default::default()
        };
        assert_eq!(
            req.into_query(Utc::now(), Tenants::All).unwrap_err().field,
            "hours",
            "{hours}"
        );
    }
}

mod windows {
    use super::*;
    use proptest::prelude::*;

    fn window(start: i64, end: i64, buckets: usize) -> PatternsQuery {
        let t = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
        PatternsRequest {
            filter: FilterParams {
                start_time: Some(t(start).to_rfc3339()),
                end_time: Some(t(end).to_rfc3339()),
                ..Default::default()
            },
            buckets: Some(buckets),
            ..Default::default()
        }
        .into_query(Utc::now(), Tenants::All)
        .unwrap()
    }

    // Years 1 to 9999, in seconds.
    const FIRST: i64 = -62_135_596_800;
    const LAST: i64 = 253_402_300_799;

    proptest! {
        // Regression (issue 9, finding 7): start_time=1000-01-01 with
        // buckets=500 overflowed and indexed out of bounds.
        #[test]
        fn every_time_falls_in_a_bucket(
            a in FIRST..LAST,
            b in FIRST..LAST,
            t in FIRST..LAST,
            buckets in 1usize..=500,
        ) {
            let (start, end) = (a.min(b), a.max(b));
            let q = window(start, end, buckets);
            let micros = t.saturating_mul(1_000_000);
            let bucket = q.bucket_of(micros);
            prop_assert!(bucket < buckets);
            prop_assert!(q.bucket_millis() >= 1);
            // Inside the window, later times never fall in earlier buckets.
            prop_assert!(q.bucket_of(i64::MIN) == 0);
            let last = if end > start { buckets - 1 } else { 0 };
            prop_assert_eq!(q.bucket_of(i64::MAX), last);
            if t >= start && t < end {
                let next = q.bucket_of((t + 1).saturating_mul(1_000_000).min(end * 1_000_000 - 1));
                prop_assert!(next >= bucket);
            }
        }
    }

    #[test]
    fn the_widest_window_splits_evenly() {
        let q = window(FIRST, LAST, 500);
        let span = (LAST - FIRST) * 1_000_000;
        assert_eq!(q.bucket_of(FIRST * 1_000_000), 0);
        assert_eq!(q.bucket_of(FIRST * 1_000_000 + span / 2), 250);
        assert_eq!(q.bucket_of(LAST * 1_000_000), 499);
    }
}
