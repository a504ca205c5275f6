//! Every metric name the rules and the dashboards read is exported (or recorded), and
//! `check-config` refuses what `run` cannot use.

use super::*;

/// Every series name lanewatch exports, read from a real exposition (the live
/// service's registry after one event: `support::live_exposition`), with `_bucket`,
/// `_sum` and `_count` for the histograms.
fn exported_series() -> BTreeSet<String> {
    let text = crate::support::live_exposition();
    let mut names = BTreeSet::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            names.insert(name.to_string());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    for must in [
        "lanewatch_passages_total",
        "lanewatch_passage_duration_seconds_bucket",
        "lanewatch_lane_throughput_per_minute",
        "lanewatch_checkpoint_congested",
        "lanewatch_consumer_lag_seconds",
        "lanewatch_build_info",
    ] {
        assert!(names.contains(must), "{must} not exported");
    }
    names
}

fn recorded_names() -> BTreeSet<String> {
    arr(&yaml("deploy/prometheus/recording.yml"), "groups")
        .iter()
        .flat_map(|g| arr(g, "rules").clone())
        .map(|r| s(&r, "record").to_string())
        .collect()
}

/// The metric names a PromQL expression selects: identifiers outside strings, label
/// matchers, grouping lists and range brackets that are not functions or keywords.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    ];
    // Blank out strings, {…} and […].
    let mut clean = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_str: Option<char> = None;
    for c in expr.chars() {
        if let Some(q) = in_str {
            if c == q {
                in_str = None;
            }
            clean.push(' ');
            continue;
        }
        match c {
            '"' | '\'' | '`' => {
                in_str = Some(c);
                clean.push(' ');
            }
            '{' => {
                depth_brace += 1;
                clean.push(' ');
            }
            '}' => {
                depth_brace -= 1;
                clean.push(' ');
            }
            '[' => {
                depth_bracket += 1;
                clean.push(' ');
            }
            ']' => {
                depth_bracket -= 1;
                clean.push(' ');
            }
            _ if depth_brace > 0 || depth_bracket > 0 => clean.push(' '),
            c => clean.push(c),
        }
    }
    let chars: Vec<char> = clean.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let lower = word.to_ascii_lowercase();
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&lower.as_str())
            {
                after_grouping = true;
                continue;
            }
            if next == Some(&'(') || KEYWORDS.contains(&lower.as_str()) {
                continue;
            }
            out.push(word);
        } else if c.is_ascii_digit() || c == '.' {
            // Numbers, including exponents (1e-9) and durations outside brackets.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c == '(' && after_grouping {
            // A label list: skip to its closing parenthesis.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            after_grouping = false;
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

/// The series selector of a Grafana `label_values(selector, label)` variable query.
fn variable_query(def: &str) -> &str {
    match def.strip_prefix("label_values(") {
        Some(rest) => &rest[..rest.rfind(',').unwrap_or(rest.len())],
        None => def,
    }
}

fn check_names(what: &str, expr: &str, allowed: &BTreeSet<String>) {
    let names = metric_names(expr);
    for n in names {
        assert!(
            allowed.contains(&n) || n == "up",
            "{what}: `{n}` is neither a metric lanewatch exports nor a recording rule (in `{expr}`)"
        );
    }
}

#[test]
fn promql_name_extraction() {
    assert_eq!(
        metric_names(
            r#"sum by (le, lane) (rate(lanewatch_passage_duration_seconds_bucket{lane=~"0.*"}[$__rate_interval])) / on(lane) group_left() x:y:z > bool 1e-9"#
        ),
        ["lanewatch_passage_duration_seconds_bucket", "x:y:z"]
    );
    assert_eq!(
        metric_names(variable_query(
            "label_values(lanewatch_passages_total{checkpoint=\"$checkpoint\"}, lane)"
        )),
        ["lanewatch_passages_total"]
    );
}

#[test]
fn rules_reference_only_exported_metrics() {
    let exported = exported_series();
    let mut allowed = exported.clone();
    allowed.extend(recorded_names());
    for file in [
        "deploy/prometheus/recording.yml",
        "deploy/prometheus/alerts.yml",
    ] {
        for g in arr(&yaml(file), "groups") {
            for r in arr(g, "rules") {
                let what = format!(
                    "{file}: {}",
                    r.get("record")
                        .or(r.get("alert"))
                        .and_then(Value::as_str)
                        .unwrap()
                );
                check_names(&what, s(r, "expr"), &allowed);
            }
        }
    }
}

fn walk<'a>(v: &'a Value, f: &mut dyn FnMut(&'a Value)) {
    f(v);
    match v {
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// Every dashboard file.
fn dashboards() -> Vec<(String, Value)> {
    let dir = root().join("grafana/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let v = json(&rel);
            (rel, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Panels, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in arr(d, "panels") {
        if s(p, "type") == "row" {
            out.extend(
                p.get("panels")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn dashboards_query_through_the_datasource_variable_and_only_exported_metrics() {
    let mut allowed = exported_series();
    allowed.extend(recorded_names());
    let ds = dashboards();
    let titles: BTreeSet<&str> = ds.iter().map(|(_, d)| s(d, "title")).collect();
    for want in ["Commander overview", "Lane detail", "Pipeline health"] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "no {want} dashboard in {titles:?}"
        );
    }
    let mut uids = BTreeSet::new();
    for (file, d) in &ds {
        assert!(
            uids.insert(s(d, "uid").to_string()),
            "{file}: duplicate uid"
        );
        let vars = arr(&d["templating"], "list");
        let dsvar = vars
            .iter()
            .find(|v| s(v, "type") == "datasource")
            .unwrap_or_else(|| panic!("{file}: no datasource template variable"));
        assert_eq!(s(dsvar, "query"), "prometheus");
        let var_ref = format!("${{{}}}", s(dsvar, "name"));
        // No datasource anywhere is pinned to a UID other than the variable (Grafana's
        // built-in annotation source aside).
        walk(d, &mut |v| {
            if let Some(dsv) = v.get("datasource").filter(|x| x.is_object()) {
                let uid = dsv.get("uid").and_then(Value::as_str).unwrap_or("");
                assert!(
                    uid == var_ref || uid == "-- Grafana --",
                    "{file}: datasource uid {uid:?} is not {var_ref}"
                );
            }
        });
        // Query variables read exported metrics.
        for v in vars.iter().filter(|v| s(v, "type") == "query") {
            check_names(
                &format!("{file} variable {}", s(v, "name")),
                variable_query(s(v, "definition")),
                &allowed,
            );
        }
        let ps = panels(d);
        assert!(ps.len() >= 5, "{file}: only {} panels", ps.len());
        for p in ps {
            let title = s(p, "title");
            assert_eq!(
                s(&p["datasource"], "uid"),
                var_ref,
                "{file} panel {title:?}: not on the datasource variable"
            );
            let targets = arr(p, "targets");
            assert!(!targets.is_empty(), "{file} panel {title:?}: no queries");
            for t in targets {
                let expr = s(t, "expr");
                assert!(
                    !expr.trim().is_empty(),
                    "{file} panel {title:?}: empty query"
                );
                assert_eq!(
                    s(&t["datasource"], "uid"),
                    var_ref,
                    "{file} panel {title:?}"
                );
                let names = metric_names(expr);
                assert!(
                    !names.is_empty(),
                    "{file} panel {title:?}: `{expr}` selects no metric"
                );
                check_names(&format!("{file} panel {title:?}"), expr, &allowed);
            }
        }
    }
}

#[test]
fn every_yaml_and_json_file_parses() {
    let mut stack = vec![root().join("deploy"), root().join("grafana")];
    let mut n = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if rel.ends_with(".yml") || rel.ends_with(".yaml") {
                yaml(&rel);
                n += 1;
            } else if rel.ends_with(".json") {
                json(&rel);
                n += 1;
            }
        }
    }
    assert!(n >= 15, "only {n} files");
}

/// `check-config` refuses what `run` could not use (issue #14): values beyond what
/// librdkafka, tokio or event-time arithmetic accept are each named with their range.
/// Before, `http.max_connections = 9223372036854775807` passed and then panicked the
/// HTTP task, and a statistics interval of 99999999999h passed and then librdkafka
/// refused it.
#[test]
fn check_config_refuses_what_run_cannot_use_and_names_each_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lanewatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "registry = \"{}\"\n\
             [source]\nstatistics_interval = \"99999999999h\"\ncommit_interval = \"400days\"\nqueued_max_messages_kbytes = 0\n\
             [http]\nmax_connections = 9223372036854775807\nmax_header_bytes = 4294967296\n\
             [windows]\nsizes = [\"1m\", \"5000years\"]\n\
             [events]\ndedup_capacity = 9223372036854775807\n",
            root().join("config/checkpoints.toml").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check-config accepted it: {stderr}");
    for field in [
        "source.statistics_interval",
        "source.commit_interval",
        "source.queued_max_messages_kbytes",
        "http.max_connections",
        "http.max_header_bytes",
        "windows.sizes",
        "events.dedup_capacity",
    ] {
        assert!(stderr.contains(field), "{field} not named:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
