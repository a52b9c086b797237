//! `spec.template.data` rendering: the Go `text/template` + sprig subset of
//! `gotemplate`, exercised with the templates people put in SealedSecrets, every error
//! path with its exact (Go-style) message, the limits, and property tests: no input panics, and
//! no error message ever holds a value.
//!
//! Outputs and messages were checked against Go's `text/template` with sprig (`missingkey=error`),
//! except where the module documents a deliberate difference.

use std::collections::BTreeMap;

use crds::convert::{seal_secret, unseal_sealed_secret, TemplateRenderer, UnsealError};
use crds::{PrivateKey, SealOptions, UnsealOptions};
use gotemplate::{functions, GoTemplates, Template, TemplateError, MAX_OUTPUT_BYTES};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;
use zeroize::Zeroizing;

type Values = BTreeMap<String, Zeroizing<Vec<u8>>>;

fn values_of(pairs: &[(&str, &[u8])]) -> Values {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.to_vec())))
        .collect()
}

/// The values most tests render with.
fn values() -> Values {
    values_of(&[
        ("user", b"admin"),
        ("pass", b"s3cr3t p@ss/&"),
        ("password", b"hunter2"),
        ("debug", b"true"),
        ("empty", b""),
        ("port", b"5432"),
        ("lines", b"line1\nline2"),
        ("json", br#"{"a":[1,2],"b":"x<y"}"#),
        ("b64", b"aGVsbG8="),
        ("binary", b"\x00\xff\xfe\x80"),
    ])
}

fn render_with(template: &str, values: &Values) -> Result<Vec<u8>, String> {
    GoTemplates.render(template, values).map(|out| out.to_vec())
}

/// Renders with [`values`]; the output as text.
fn ok(template: &str) -> String {
    match render_with(template, &values()) {
        Ok(out) => String::from_utf8(out).expect("UTF-8 output"),
        Err(e) => panic!("{template:?} failed: {e}"),
    }
}

/// Renders with [`values`]; the error.
fn err(template: &str) -> String {
    match render_with(template, &values()) {
        Ok(out) => panic!("{template:?} rendered {:?}", String::from_utf8_lossy(&out)),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// Templates people write.

#[test]
fn joins_values() {
    assert_eq!(
        ok(r#"{{ index . "user" }}:{{ index . "pass" }}"#),
        "admin:s3cr3t p@ss/&"
    );
    assert_eq!(ok("{{ .user }}:{{ .password }}"), "admin:hunter2");
}

#[test]
fn base64_encodes_and_decodes() {
    assert_eq!(ok("{{ .password | b64enc }}"), "aHVudGVyMg==");
    assert_eq!(ok("{{ b64dec .b64 }}"), "hello");
    assert_eq!(ok("{{ .password | b64enc | b64dec }}"), "hunter2");
}

#[test]
fn builds_a_docker_config() {
    let template = r#"{"auths":{"registry.example.com":{"username":{{ .user | quote }},"auth":"{{ printf "%s:%s" .user .password | b64enc }}"}}}"#;
    assert_eq!(
        ok(template),
        r#"{"auths":{"registry.example.com":{"username":"admin","auth":"YWRtaW46aHVudGVyMg=="}}}"#
    );
}

#[test]
fn builds_json_with_to_json_and_dict() {
    assert_eq!(
        ok(
            r#"{{ toJson (dict "user" .user "pass" .pass "port" (atoi .port) "tags" (list "a" 1 true nil)) }}"#
        ),
        r#"{"pass":"s3cr3t p@ss/\u0026","port":5432,"tags":["a",1,true,null],"user":"admin"}"#
    );
    assert_eq!(
        ok(r#"{{ toPrettyJson (dict "db" (dict "user" .user "hosts" (list "a" "b")) "empty" (list)) }}"#),
        "{\n  \"db\": {\n    \"hosts\": [\n      \"a\",\n      \"b\"\n    ],\n    \"user\": \"admin\"\n  },\n  \"empty\": []\n}"
    );
    assert_eq!(
        ok(r#"{{ toRawJson (dict "p" .pass) }}"#),
        r#"{"p":"s3cr3t p@ss/&"}"#
    );
}

#[test]
fn reads_json_values() {
    assert_eq!(ok("{{ (fromJson .json).b }}"), "x<y");
    assert_eq!(ok(r#"{{ index (fromJson .json) "a" 1 }}"#), "2");
    assert_eq!(
        ok("{{ fromJson .json | toJson }}"),
        r#"{"a":[1,2],"b":"x\u003cy"}"#
    );
}

#[test]
fn conditionals_trim_whitespace() {
    assert_eq!(
        ok("{{- if .debug }}\nlog_level: debug\n{{ end -}}"),
        "\nlog_level: debug\n"
    );
    assert_eq!(
        ok("a  {{- if eq .debug \"true\" -}}  B  {{- end -}}  c"),
        "aBc"
    );
    assert_eq!(ok("{{ if .empty }}yes{{ else }}no{{ end }}"), "no");
    assert_eq!(
        ok(
            r#"{{ if eq .port "1" }}one{{ else if eq .port "5432" }}postgres{{ else }}other{{ end }}"#
        ),
        "postgres"
    );
    assert_eq!(
        ok("{{ with .empty }}{{ . }}{{ else with .user }}<{{ . }}>{{ end }}"),
        "<admin>"
    );
    assert_eq!(ok("{{ if and .user (not .empty) }}ok{{ end }}"), "ok");
    assert_eq!(ok("{{/* a comment */}}x{{- /* another */ -}} y"), "xy");
}

#[test]
fn indents_for_yaml() {
    let template = "config.yaml: |\n{{ .lines | indent 2 }}\nother:{{ .lines | nindent 4 }}";
    assert_eq!(
        ok(template),
        "config.yaml: |\n  line1\n  line2\nother:\n    line1\n    line2"
    );
}

#[test]
fn formats_with_printf() {
    assert_eq!(
        ok(
            r#"{{ printf "postgres://%s:%s@db:%s/app?sslmode=%s" .user (urlquery .pass) .port "require" }}"#
        ),
        "postgres://admin:s3cr3t+p%40ss%2F%26@db:5432/app?sslmode=require"
    );
    assert_eq!(
        ok(
            r#"{{ printf "%s=%d %q %x %v %5.2f|%-5s|%05d|%%" .user 42 .user .user true 3.14159 "ab" -42 }}"#
        ),
        "admin=42 \"admin\" 61646d696e true  3.14|ab   |-0042|%"
    );
    assert_eq!(
        ok(r#"{{ printf "%d %s" .user }}"#),
        "%!d(string=admin) %!s(MISSING)"
    );
    assert_eq!(
        ok(r#"{{ printf "%T %T %T %T" (splitList "," "a") (split "," "a") (list) . }}"#),
        "[]string map[string]string []interface {} map[string]string"
    );
    assert_eq!(
        ok("{{ print 1 2 \"a\" \"b\" 3 }}|{{ println \"a\" 1 }}"),
        "1 2ab3|a 1\n"
    );
}

#[test]
fn variables_range_and_templates() {
    assert_eq!(
        ok("{{ $u := .user }}{{ $u = upper $u }}{{ $u }}/{{ $.user }}"),
        "ADMIN/admin"
    );
    assert_eq!(
        ok(r#"{{ range $i, $v := list "a" "b" }}{{ $i }}={{ $v }};{{ end }}"#),
        "0=a;1=b;"
    );
    assert_eq!(
        ok("{{ range $k, $v := . }}{{ if hasPrefix \"pass\" $k }}{{ $k }} {{ end }}{{ end }}"),
        "pass password "
    );
    assert_eq!(ok("{{ range list }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        ok("{{ range $v := list 1 2 3 4 }}{{ if eq $v 2 }}{{ continue }}{{ end }}{{ if eq $v 4 }}{{ break }}{{ end }}{{ $v }}{{ end }}"),
        "13"
    );
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(
        ok(
            r#"{{ define "line" }}{{ .k }}={{ .v }}{{ end }}{{ template "line" (dict "k" "user" "v" .user) }};{{ block "b" .port }}[{{ . }}]{{ end }}"#
        ),
        "user=admin;[5432]"
    );
}

#[test]
fn sprig_string_functions_keep_their_argument_order() {
    assert_eq!(ok(r#"{{ replace "s" "$" .pass }}"#), "$3cr3t p@$$/&");
    assert_eq!(
        ok(r#"{{ .user | trimPrefix "ad" }}|{{ trimSuffix "in" .user }}|{{ trimAll "$" "$$x$" }}"#),
        "min|adm|x"
    );
    assert_eq!(
        ok(r#"{{ contains "dm" .user }} {{ hasPrefix "ad" .user }} {{ hasSuffix "x" .user }}"#),
        "true true false"
    );
    assert_eq!(
        ok(r#"{{ default "dflt" .empty }} {{ .user | default "dflt" }}"#),
        "dflt admin"
    );
    assert_eq!(
        ok(
            r#"{{ empty .empty }} {{ coalesce .empty "" "c" }} {{ ternary "y" "n" (eq .debug "true") }}"#
        ),
        "true c y"
    );
    assert_eq!(
        ok(
            r#"{{ upper .user }} {{ lower "ABC" }} {{ title "hello world-foo" }} [{{ trim "  x  " }}]"#
        ),
        "ADMIN abc Hello World-Foo [x]"
    );
    assert_eq!(
        ok(r#"{{ quote .user 1 }} {{ squote .user }} {{ cat "a" 1 nil "b" }}"#),
        r#""admin" "1" 'admin' a 1 b"#
    );
    assert_eq!(
        ok(r#"{{ repeat 3 "ab" }} {{ nospace " a b	c " }} {{ toString 12 }}"#),
        "ababab abc 12"
    );
    assert_eq!(
        ok(
            r#"{{ trunc 3 "abcdef" }} {{ trunc -2 "abcdef" }} {{ substr 1 3 "abcdef" }} {{ substr 2 99 "abcdef" }}"#
        ),
        "abc ef bc cdef"
    );
    assert_eq!(
        ok(
            r#"{{ splitList "," "a,b,c" }} {{ join "-" (list "a" 1 nil "b") }} {{ (split "," "a,b")._1 }}"#
        ),
        "[a b c] a-1-b b"
    );
    assert_eq!(
        ok(r#"{{ sha256sum "hunter2" }}"#),
        "f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7"
    );
    assert_eq!(
        ok(r#"{{ sha1sum "x" }}"#),
        "11f6ad8ec52a2984abaafd7c3b516503785c2072"
    );
    assert_eq!(
        ok(
            r#"{{ keys (dict "b" 1 "a" 2) }} {{ $d := dict "user" .user }}{{ hasKey $d "user" }} {{ hasKey $d "nope" }} [{{ get $d "nope" }}]"#
        ),
        "[a b] true false []"
    );
    // An addition: `hasKey` and `get` also take the values (a missing key is an error here).
    assert_eq!(
        ok(
            r#"{{ hasKey . "user" }} {{ hasKey . "nope" }} [{{ get . "nope" }}] {{ get . "user" }}"#
        ),
        "true false [] admin"
    );
    // The other dict functions refuse them, as Go does: a map[string]string is no
    // map[string]interface {}.
    assert!(err(r#"{{ set . "x" "y" }}"#).contains("got map[string]string"));
    assert!(err(r#"{{ keys . }}"#).contains("got map[string]string"));
    assert_eq!(
        ok(
            r#"{{ len .user }} {{ len (list 1 2) }} {{ index "abc" 1 }} {{ eq 1 2 3 1 }} {{ lt "a" "b" }}"#
        ),
        "5 2 98 true true"
    );
    assert_eq!(
        ok(r#"{{ html "<a href='x'>&" }} {{ js "a'b<=" }}"#),
        "&lt;a href=&#39;x&#39;&gt;&amp; a\\'b\\u003C\\u003D"
    );
}

#[test]
fn numbers_print_like_go() {
    assert_eq!(
        ok("{{ 1e6 }} {{ 1.5 }} {{ 0x1F }} {{ 'a' }} {{ -3 }} {{ 1.0 }} {{ 1_000 }}"),
        "1e+06 1.5 31 97 -3 1 1000"
    );
    assert_eq!(
        ok(r#"{{ printf "%v %.3g %e %g" 0.1 1234.5678 0.000123 1e-7 }}"#),
        "0.1 1.23e+03 1.230000e-04 1e-07"
    );
    assert_eq!(
        ok("{{ toJson 1e21 }} {{ toJson 1e20 }} {{ toJson 0.0000001 }}"),
        "1e+21 100000000000000000000 1e-7"
    );
}

#[test]
fn binary_values_pass_through_unchanged() {
    let out = render_with("{{ .binary }}", &values()).expect("renders");
    assert_eq!(out, b"\x00\xff\xfe\x80");
    let out = render_with(r#"{{ index . "binary" | b64enc }}"#, &values()).expect("renders");
    assert_eq!(out, b"AP/+gA==");
    assert_eq!(ok("{{ len .binary }}"), "4");
    assert_eq!(ok("{{ quote .binary }}"), "\"\\x00\\xff\\xfe\\x80\"");
}

#[test]
fn renders_through_the_trait_object_and_the_unsealer() {
    let renderer: &dyn TemplateRenderer = &GoTemplates;
    let out = renderer.render("{{ .a }}-{{ .b }}", &values_of(&[("a", b"1"), ("b", b"2")]));
    assert_eq!(out.map(|o| o.to_vec()), Ok(b"1-2".to_vec()));

    let key = PrivateKey::generate(2048).expect("key generation");
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("db".to_owned()),
            namespace: Some("apps".to_owned()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([
            ("user".to_owned(), "admin".to_owned()),
            ("password".to_owned(), "hunter2".to_owned()),
        ])),
        ..Secret::default()
    };
    let mut sealed = seal_secret(secret, key.public_key(), &SealOptions::default()).expect("seals");
    sealed.spec.template.data = Some(BTreeMap::from([(
        "dsn".to_owned(),
        Some("postgres://{{ .user }}:{{ .password | urlquery }}@db/app".to_owned()),
    )]));
    let keys = [key];
    let unsealed = unseal_sealed_secret(&sealed, &keys, &GoTemplates, UnsealOptions::default())
        .expect("unseals");
    let data = unsealed.data.expect("data");
    assert_eq!(data["dsn"].0, b"postgres://admin:hunter2@db/app");
    assert_eq!(data["user"].0, b"admin");

    sealed.spec.template.data = Some(BTreeMap::from([(
        "dsn".to_owned(),
        Some("{{ .nope }}".to_owned()),
    )]));
    let failed = unseal_sealed_secret(&sealed, &keys, &GoTemplates, UnsealOptions::default());
    assert_eq!(
        failed.err(),
        Some(UnsealError::Template {
            key: "dsn".to_owned(),
            reason: r#"template: data:1:3: executing "data" at <.nope>: map has no entry for key "nope""#.to_owned(),
        })
    );
}

#[test]
fn parses_once_and_executes_many_times() {
    let template = Template::parse("conn", "{{ .user }}@{{ .host }}").expect("parses");
    let first = template.execute(&values_of(&[("user", b"a"), ("host", b"h1")]));
    let second = template.execute(&values_of(&[("user", b"b"), ("host", b"h2")]));
    assert_eq!(first.map(|o| o.to_vec()), Ok(b"a@h1".to_vec()));
    assert_eq!(second.map(|o| o.to_vec()), Ok(b"b@h2".to_vec()));
    assert_eq!(
        template.execute(&values_of(&[("user", b"a")])).err(),
        Some(TemplateError::Exec(
            r#"template: conn:1:15: executing "conn" at <.host>: map has no entry for key "host""#
                .to_owned()
        ))
    );
    assert!(matches!(
        Template::parse("conn", "{{ nope }}"),
        Err(TemplateError::Parse(m)) if m == r#"template: conn:1: function "nope" not defined"#
    ));
}

// ---------------------------------------------------------------------------------------------
// Errors: parse errors carry a line, execution errors a line, a column and the action.

#[test]
fn unknown_and_forbidden_functions_are_parse_errors() {
    assert_eq!(
        err("{{ foo }}"),
        r#"template: data:1: function "foo" not defined"#
    );
    assert_eq!(
        err(r#"{{ env "HOME" }}"#),
        r#"template: data:1: function "env" not defined"#
    );
    assert_eq!(
        err(r#"{{ expandenv "$HOME" }}"#),
        r#"template: data:1: function "expandenv" not defined"#
    );
    assert_eq!(
        err(r#"{{ getHostByName "example.com" }}"#),
        r#"template: data:1: function "getHostByName" not defined"#
    );
    assert_eq!(
        err("a\n\n{{ if false }}{{ nope 1 }}{{ end }}"),
        r#"template: data:3: function "nope" not defined"#
    );
    for name in ["env", "expandenv", "getHostByName"] {
        assert!(!functions().contains(&name));
    }
}

#[test]
fn syntax_errors_match_go() {
    let cases = [
        ("{{ }", r#"template: data:1: unexpected "}" in command"#),
        (
            "{{ .user } }}",
            r#"template: data:1: unexpected "}" in operand"#,
        ),
        ("{{ }}", "template: data:1: missing value for command"),
        ("{{ .user", "template: data:1: unclosed action"),
        (
            "{{ .user\n\n",
            "template: data:3: unclosed action started at data:1",
        ),
        (
            "{{ \"abc }}",
            "template: data:1: unterminated quoted string",
        ),
        (
            "{{ `abc }}",
            "template: data:1: unterminated raw quoted string",
        ),
        ("{{ 3x }}", r#"template: data:1: bad number syntax: "3x""#),
        ("{{ .x-}}", "template: data:1: bad character U+002D '-'"),
        ("{{ % }}", r#"template: data:1: unexpected "%" in command"#),
        ("{{ ( }}", "template: data:1: unclosed left paren"),
        ("{{ ) }}", "template: data:1: unexpected right paren"),
        ("{{ ; }}", r#"template: data:1: unexpected ";" in command"#),
        (
            "{{/* c */ }}",
            "template: data:1: comment ends before closing delimiter",
        ),
        ("{{/* c", "template: data:1: unclosed comment"),
        (
            "{{ if }}{{ end }}",
            "template: data:1: missing value for if",
        ),
        ("{{ if 1 }}", "template: data:1: unexpected EOF"),
        ("{{ end }}", "template: data:1: unexpected {{end}}"),
        ("{{ else }}", "template: data:1: unexpected {{else}}"),
        (
            "{{ if 1 }}a{{ else }}b{{ else }}c{{ end }}",
            "template: data:1: expected end; found {{else}}",
        ),
        (
            "{{ break }}",
            "template: data:1: {{break}} outside {{range}}",
        ),
        ("{{ $y }}", r#"template: data:1: undefined variable "$y""#),
        (
            "{{ if 1 }}{{ $x := 2 }}{{ end }}{{ $x }}",
            r#"template: data:1: undefined variable "$x""#,
        ),
        (
            "{{ \"a\" | 1 }}",
            "template: data:1: non executable command in pipeline stage 2",
        ),
        (
            "{{ \"a\".b }}",
            r#"template: data:1: unexpected . after term "\"a\"""#,
        ),
        (
            "{{ range $i, $v, $w := list 1 }}{{ end }}",
            "template: data:1: too many declarations in range",
        ),
        ("{{ \"\\q\" }}", "template: data:1: invalid syntax"),
        (
            "{{ 'ab' }}",
            "template: data:1: malformed character constant: 'ab'",
        ),
        (
            "{{ 99999999999999999999 }}",
            r#"template: data:1: integer overflow: "99999999999999999999""#,
        ),
        (
            "{{ 1e400 }}",
            r#"template: data:1: illegal number syntax: "1e400""#,
        ),
        (
            "{{ template x }}",
            "template: data:1: unexpected \"x\" in template clause",
        ),
        (
            "{{ define \"a\" }}x{{ end }}{{ define \"a\" }}y{{ end }}",
            r#"template: data:1: template: multiple definition of template "a""#,
        ),
        (
            "{{ 1+2i }}",
            "template: data:1: complex numbers are not supported",
        ),
    ];
    for (template, message) in cases {
        assert_eq!(err(template), message, "{template:?}");
    }
}

#[test]
fn a_missing_key_is_an_error_naming_it() {
    assert_eq!(
        err("{{ .x }}"),
        r#"template: data:1:3: executing "data" at <.x>: map has no entry for key "x""#
    );
    assert_eq!(
        err("line1\n  {{ index . \"x\" }}"),
        r#"template: data:2:5: executing "data" at <index . "x">: error calling index: map has no entry for key "x""#
    );
    assert_eq!(
        err(r#"{{ $m := dict "a" (dict "b" 1) }}{{ $m.a.c }}"#),
        r#"template: data:1:38: executing "data" at <$m.a.c>: map has no entry for key "c""#
    );
    assert_eq!(
        err(r#"{{ define "t" }}{{ .nope }}{{ end }}{{ template "t" . }}"#),
        r#"template: data:1:19: executing "t" at <.nope>: map has no entry for key "nope""#
    );
    assert_eq!(
        err(r#"{{ template "nope" }}"#),
        r#"template: data:1:12: executing "data" at <{{template "nope"}}>: template "nope" not defined"#
    );
    // A computed key could be a value: it is not shown.
    assert_eq!(
        err("{{ index . .user }}"),
        r#"template: data:1:3: executing "data" at <index . .user>: error calling index: map has no entry for key (computed key withheld)"#
    );
}

#[test]
fn wrong_arguments_match_go() {
    let cases = [
        (
            "{{ indent 2 }}",
            r#"template: data:1:3: executing "data" at <indent>: wrong number of args for indent: want 2 got 1"#,
        ),
        (
            "{{ .user | indent }}",
            r#"template: data:1:11: executing "data" at <indent>: wrong number of args for indent: want 2 got 1"#,
        ),
        (
            "{{ printf }}",
            r#"template: data:1:3: executing "data" at <printf>: wrong number of args for printf: want at least 1 got 0"#,
        ),
        (
            "{{ not }}",
            r#"template: data:1:3: executing "data" at <not>: wrong number of args for not: want 1 got 0"#,
        ),
        (
            "{{ indent \"x\" .user }}",
            r#"template: data:1:10: executing "data" at <"x">: expected integer; found "x""#,
        ),
        (
            "{{ upper 5 }}",
            r#"template: data:1:9: executing "data" at <5>: expected string; found 5"#,
        ),
        (
            "{{ 5 | upper }}",
            r#"template: data:1:7: executing "data" at <upper>: wrong type for value; expected string; got int"#,
        ),
        (
            "{{ ternary \"a\" \"b\" .debug }}",
            r#"template: data:1:19: executing "data" at <.debug>: wrong type for value; expected bool; got string"#,
        ),
        (
            "{{ upper . }}",
            r#"template: data:1:9: executing "data" at <.>: wrong type for value; expected string; got map[string]string"#,
        ),
        (
            "{{ upper nil }}",
            r#"template: data:1:9: executing "data" at <nil>: cannot assign nil to string"#,
        ),
        (
            "{{ upper (coalesce \"\") }}",
            r#"template: data:1:10: executing "data" at <(coalesce "")>: invalid value; expected string"#,
        ),
        (
            "{{ .user.x }}",
            r#"template: data:1:8: executing "data" at <.user.x>: can't evaluate field x in type string"#,
        ),
        (
            "{{ .user \"x\" }}",
            r#"template: data:1:3: executing "data" at <.user>: user is not a method but has arguments"#,
        ),
        (
            "{{ nil }}",
            r#"template: data:1:3: executing "data" at <nil>: nil is not a command"#,
        ),
        (
            "{{ . \"x\" }}",
            r#"template: data:1:3: executing "data" at <.>: can't give argument to non-function ."#,
        ),
        (
            "{{ (print \"a\") \"b\" }}",
            r#"template: data:1:3: executing "data" at <(print "a") "b">: can't give argument to non-function print "a""#,
        ),
    ];
    for (template, message) in cases {
        assert_eq!(err(template), message, "{template:?}");
    }
}

#[test]
fn failing_functions_match_go() {
    let cases = [
        (
            "{{ eq 1 \"a\" }}",
            "error calling eq: incompatible types for comparison",
        ),
        (
            "{{ eq 1 }}",
            "error calling eq: missing argument for comparison",
        ),
        (
            "{{ lt nil 1 }}",
            "error calling lt: invalid type for comparison",
        ),
        (
            "{{ eq (list) (list) }}",
            "error calling eq: non-comparable type []interface {}",
        ),
        (
            "{{ index . 1 }}",
            "error calling index: value has type int; should be string",
        ),
        (
            "{{ index (list 1) 5 }}",
            "error calling index: index out of range",
        ),
        (
            "{{ index (list 1) \"a\" }}",
            "error calling index: cannot index slice/array with type string",
        ),
        (
            "{{ index 1 1 }}",
            "error calling index: can't index item of type int",
        ),
        (
            "{{ index nil 1 }}",
            "error calling index: index of untyped nil",
        ),
        ("{{ len 3 }}", "error calling len: len of type int"),
        (
            "{{ b64dec \"!!\" }}",
            "error calling b64dec: illegal base64 data",
        ),
        (
            "{{ fromJson \"{\" }}",
            "error calling fromJson: invalid JSON",
        ),
        (
            "{{ substr 5 2 \"abc\" }}",
            "error calling substr: runtime error: slice bounds out of range",
        ),
        (
            "{{ repeat -1 \"a\" }}",
            "error calling repeat: strings: negative Repeat count",
        ),
        (
            "{{ indent -1 \"a\" }}",
            "error calling indent: strings: negative Repeat count",
        ),
    ];
    for (template, message) in cases {
        let full = err(template);
        assert!(
            full.starts_with("template: data:1:3: executing \"data\" at <"),
            "{full}"
        );
        assert!(
            full.ends_with(&format!(">: {message}")),
            "{template:?}: {full}"
        );
    }
    assert_eq!(
        err("{{ range .user }}{{ end }}"),
        r#"template: data:1:9: executing "data" at <.user>: range can't iterate over value of type string"#
    );
}

// ---------------------------------------------------------------------------------------------
// Limits.

#[test]
fn output_and_intermediate_sizes_are_bounded() {
    let big = MAX_OUTPUT_BYTES / 4;
    assert_eq!(
        err(&format!(
            r#"{{{{ range 5 }}}}{{{{ repeat {big} "x" }}}}{{{{ end }}}}"#
        )),
        format!("template: data: output exceeds the limit of {MAX_OUTPUT_BYTES} bytes")
    );
    assert!(err(r#"{{ repeat 2000000 "x" }}"#)
        .ends_with("error calling repeat: result exceeds the limit of 1048576 bytes"));
    assert!(err(r#"{{ printf "%1000000d%1000000d" 1 2 }}"#)
        .ends_with("result exceeds the limit of 1048576 bytes"));
    assert!(err(&format!(r#"{{{{ $x := repeat {MAX_OUTPUT_BYTES} "x" }}}}{{{{ range 40 }}}}{{{{ $y := printf "%s" $x }}}}{{{{ end }}}}"#))
        .ends_with("error calling printf: rendering exceeds the work limit of 67108864 bytes read and written"));
    // Doubling a shared list would be exponential without the output bound.
    assert!(
        err("{{ $a := list 1 }}{{ range 60 }}{{ $a = list $a $a }}{{ end }}{{ $a }}")
            .ends_with("output exceeds the limit of 1048576 bytes")
    );
    assert!(
        err("{{ $a := list }}{{ range 100 }}{{ $a = list $a }}{{ end }}")
            .ends_with("error calling list: values nest deeper than 64 levels")
    );
}

#[test]
fn evaluation_and_nesting_are_bounded() {
    assert_eq!(
        err("{{ range 100000000 }}{{ end }}"),
        "template: data: evaluation exceeds the limit of 1000000 steps"
    );
    assert_eq!(
        err(r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#),
        "template: data: exceeded maximum template depth (150)"
    );
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(60), ")".repeat(60));
    assert_eq!(
        err(&parens),
        "template: data:1: max expression depth exceeded"
    );
    let ifs = format!("{}{}", "{{ if 1 }}".repeat(60), "{{ end }}".repeat(60));
    assert_eq!(err(&ifs), "template: data:1: max expression depth exceeded");
}

#[test]
fn the_deepest_template_fits_a_small_stack() {
    // Templates render on async worker threads: the worst nesting the limits allow must fit in
    // a fraction of their 2 MiB stack.
    let deep = format!(
        r#"{{{{ define "r" }}}}{{{{ template "r" {}.{} }}}}{{{{ end }}}}{{{{ template "r" . }}}}"#,
        "(print ".repeat(45),
        ")".repeat(45)
    );
    let worst = [
        deep,
        format!(
            "{{{{ print {}1{} }}}}",
            "(print ".repeat(48),
            ")".repeat(48)
        ),
        format!(
            "{}x{}",
            "{{ with 1 }}{{ if 1 }}".repeat(24),
            "{{ end }}{{ end }}".repeat(24)
        ),
        format!(
            "{{{{ fromJson `{}{}` }}}}",
            "[".repeat(200),
            "]".repeat(200)
        ),
        format!(
            "{{{{ fromJson `{}{}` }}}}",
            "[".repeat(100),
            "]".repeat(100)
        ),
    ];
    let run = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            worst
                .iter()
                .map(|t| render_with(t, &values()).is_ok())
                .collect::<Vec<_>>()
        })
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(run, vec![false, true, true, false, false]);
}

// ---------------------------------------------------------------------------------------------
// Properties: no input panics; no error holds a value.

const SECRETS: [&str; 3] = ["SECRETu7Vq", "SECRET-9x/&<>", "SECRET\"quote"];

fn secret_values() -> Values {
    values_of(&[
        ("user", SECRETS[0].as_bytes()),
        ("pass", SECRETS[1].as_bytes()),
        ("json", br#"{"k":"SECRETu7Vq","n":[1,"SECRET-9x/&<>"]}"#),
        ("q", SECRETS[2].as_bytes()),
    ])
}

fn assert_no_secret(template: &str, result: Result<Vec<u8>, String>) {
    if let Err(message) = result {
        for secret in SECRETS {
            assert!(
                !message.contains(secret),
                "{template:?} leaked a value: {message}"
            );
        }
    }
}

/// Pieces of template syntax, function names and values, put together at random.
fn fragment() -> impl Strategy<Value = String> {
    let mut pieces: Vec<String> = [
        "{{",
        "}}",
        "{{- ",
        " -}}",
        " ",
        "  ",
        "\n",
        ".",
        ".user",
        ".pass",
        ".json",
        ".q",
        ".nope",
        "$",
        "$x",
        "$x := ",
        "$x = ",
        "$i, $v := ",
        "|",
        "(",
        ")",
        "\"",
        "`",
        "'",
        "\"user\"",
        "\"pass\"",
        "\"nope\"",
        "\"%s %d %q %x %v %5.2f %*d %T %!\"",
        "if ",
        "else ",
        "else if ",
        "end",
        "range ",
        "with ",
        "define \"t\"",
        "template \"t\" .",
        "block \"b\" .",
        "break",
        "continue",
        "nil",
        "true",
        "false",
        "1",
        "-1",
        "0",
        "3",
        "1.5e3",
        "0x1F",
        "'a'",
        "1e400",
        "/*",
        "*/",
        ",",
        ":",
        "=",
        "é",
        "\\",
        "\\x",
        "99999999999999999999",
        "index . .user",
        "index . .pass",
        "fromJson .json",
        "(index . .q)",
        "toJson .",
        "printf \"%s\" .pass",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    pieces.extend(functions().iter().map(|f| format!("{f} ")));
    prop_oneof![
        4 => proptest::sample::select(pieces),
        1 => any::<char>().prop_map(String::from),
    ]
}

fn template_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(fragment(), 0..40).prop_map(|v| v.concat()),
        1 => any::<String>(),
        1 => "\\{\\{[ -~]{0,30}\\}\\}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_template_panics_or_leaks_a_value(template in template_strategy()) {
        let result = render_with(&template, &secret_values());
        assert_no_secret(&template, result);
    }
}

/// Every prefix and single-character deletion of working templates: parse errors at every
/// position, and execution errors on real values.
#[test]
fn mangled_templates_never_panic_or_leak() {
    let seeds = [
        r#"{{ index . "user" }}:{{ index . "pass" }}"#,
        r#"{{- if .user }}{{ printf "%s=%q" .user .pass | b64enc }}{{ else }}x{{ end -}}"#,
        r#"{{ toJson (dict "u" .user "p" (list .pass 1 2.5 nil true)) }}"#,
        r#"{{ range $k, $v := . }}{{ $k }}={{ $v | quote | indent 2 }}{{ end }}"#,
        r#"{{ define "t" }}{{ .user }}{{ end }}{{ template "t" . }}{{ with .pass }}{{ . }}{{ end }}"#,
        r#"{{ $x := fromJson .json }}{{ index $x "n" 1 }}{{ $x.k }}{{ index . $x.k }}"#,
        r#"{{/* c */}}{{ range $i, $e := splitList "/" .pass }}{{ if eq $i 1 }}{{ break }}{{ end }}{{ $e }}{{ end }}"#,
    ];
    let values = secret_values();
    for seed in seeds {
        let chars: Vec<(usize, char)> = seed.char_indices().collect();
        for (at, c) in &chars {
            let prefix = &seed[..*at];
            assert_no_secret(prefix, render_with(prefix, &values));
            let deleted = format!("{}{}", prefix, &seed[at + c.len_utf8()..]);
            assert_no_secret(&deleted, render_with(&deleted, &values));
        }
        assert_no_secret(seed, render_with(seed, &values));
    }
}

#[test]
fn errors_built_from_values_do_not_show_them() {
    let templates = [
        "{{ index . .pass }}",
        "{{ index (dict) .user }}",
        r#"{{ index . (printf "%s-x" .pass) }}"#,
        "{{ range .pass }}{{ end }}",
        "{{ index (list 1) (len .pass) }}",
        "{{ b64dec .pass }}",
        "{{ fromJson .pass }}",
        "{{ upper (fromJson .json) }}",
        "{{ eq .pass 1 }}",
        "{{ $m := fromJson .json }}{{ $m.nope }}",
        "{{ index (fromJson .json) .user }}",
        "{{ .pass.x }}",
        "{{ substr 20 30 .pass }}",
        "{{ .pass | printf \"%d\" | upper | indent \"x\" }}",
    ];
    for template in templates {
        let result = render_with(template, &secret_values());
        assert!(result.is_err(), "{template:?} should fail");
        assert_no_secret(template, result);
    }
}
