use std::io::Write;

use secrecy::ExposeSecret;

use super::*;

/// The smallest environment that loads: both tokens, the workspace and a database URL.
fn required() -> Vec<(String, String)> {
    pairs(&[
        ("SLACK_APP_TOKEN", "xapp-1-A0-secret-app"),
        ("SLACK_BOT_TOKEN", "xoxb-secret-bot"),
        ("SLACK_WORKSPACE_ID", "acme"),
        (
            "DATABASE_URL",
            "postgres://janus:hunter2@db.internal:5432/janus",
        ),
    ])
}

fn pairs(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `required()` plus `extra` (which wins on the same name).
fn load(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut env = required();
    env.extend(pairs(extra));
    Config::load_from(None, env)
}

fn load_err(extra: &[(&str, &str)]) -> String {
    load(extra).expect_err("loading should fail").to_string()
}

/// A TOML file in a temp dir, kept alive as long as the returned guard.
fn toml_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("janus.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load_toml(text: &str, extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let (_dir, path) = toml_file(text);
    let mut env = required();
    env.extend(pairs(extra));
    Config::load_from(Some(&path), env)
}

/// Like `load_toml` but the message has the temp path replaced by `FILE`.
fn toml_err(text: &str, extra: &[(&str, &str)]) -> String {
    let (_dir, path) = toml_file(text);
    let mut env = required();
    env.extend(pairs(extra));
    let error = Config::load_from(Some(&path), env).expect_err("loading should fail");
    error
        .to_string()
        .replace(&path.display().to_string(), "FILE")
}

fn secret_file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

// --- layers -----------------------------------------------------------------------------

#[test]
fn the_slash_command_defaults_to_incident_and_is_validated_naming_its_source() {
    assert_eq!(load(&[]).unwrap().slack.command.as_str(), "/incident");
    let config = load(&[("JANUS_SLACK__COMMAND", "/inc")]).unwrap();
    assert_eq!(config.slack.command.as_str(), "/inc");
    let config = load_toml("[slack]\ncommand = \"/sev\"\n", &[]).unwrap();
    assert_eq!(config.slack.command.as_str(), "/sev");
    let error = load_err(&[("JANUS_SLACK__COMMAND", "incident")]);
    assert!(error.contains("slack.command"), "{error}");
    assert!(error.contains("JANUS_SLACK__COMMAND"), "{error}");
    assert!(error.contains("such as `/incident`"), "{error}");
    let error = toml_err("[slack]\ncommand = \"/Big Command\"\n", &[]);
    assert!(
        error.contains("slack.command") && error.contains("FILE"),
        "{error}"
    );
}

#[test]
fn defaults_apply_when_only_required_settings_are_given() {
    let config = load(&[]).unwrap();
    assert_eq!(config.slack.api_url.as_str(), "https://slack.com/api/");
    assert_eq!(config.slack.sockets, 2);
    assert_eq!(config.slack.workspace_id, Some("acme".to_owned()));
    assert_eq!(config.database.max_connections, 10);
    assert_eq!(config.incident.digest_channel, "incidents");
    assert_eq!(config.incident.video_link, None);
    assert_eq!(config.incident.timezone, Zone::utc());
    assert_eq!(config.incident.catalog, Catalog::default());
    assert_eq!(config.templates_dir, None);
    assert!(config.auto_invite.is_none());
    assert!(config.providers.is_none());
    assert!(config.react.is_none());
    assert!(config.statuspage.is_none());
    assert_eq!(config.log_level, "info");
    assert_eq!(config.log_format, LogFormat::Human);
    assert!(config.warnings().is_empty());
}

#[test]
fn the_toml_file_overrides_the_defaults() {
    let config = load_toml(
        "[slack]\nsockets = 4\n[incident]\ndigest_channel = \"ops\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(config.slack.sockets, 4);
    assert_eq!(config.incident.digest_channel, "ops");
}

#[test]
fn janus_env_overrides_the_toml_file() {
    let config = load_toml(
        "log_level = \"warn\"\n[slack]\nsockets = 4\n",
        &[
            ("JANUS_SLACK__SOCKETS", "3"),
            ("JANUS_LOG_LEVEL", "info,janus=debug"),
        ],
    )
    .unwrap();
    assert_eq!(config.slack.sockets, 3);
    assert_eq!(config.log_level, "info,janus=debug");
}

#[test]
fn legacy_env_overrides_janus_env() {
    let config = load_toml(
        "[incident]\ndigest_channel = \"from-toml\"\n",
        &[
            ("JANUS_INCIDENT__DIGEST_CHANNEL", "from-janus"),
            ("INCIDENTS_DIGEST_CHANNEL", "from-legacy"),
        ],
    )
    .unwrap();
    assert_eq!(config.incident.digest_channel, "from-legacy");
}

#[test]
fn the_toml_file_sets_what_the_environment_does_not() {
    let (_dir, path) = toml_file(
        "[slack]\napp_token = \"xapp-toml\"\nbot_token = \"xoxb-toml\"\nworkspace_id = \"acme\"\n\
         [database]\nurl = \"postgres://localhost/janus\"\n",
    );
    let config = Config::load_from(Some(&path), []).unwrap();
    assert_eq!(config.slack.app_token.expose_secret(), "xapp-toml");
    assert_eq!(
        config.database_url().expose_secret(),
        "postgres://localhost/janus"
    );
}

#[test]
fn every_legacy_name_sets_its_key() {
    for (var, key) in sources::LEGACY_ENV {
        let env = BTreeMap::from([(var.to_string(), "some-value".to_owned())]);
        let figment = Figment::from(EnvLayer::legacy(&env));
        let value = figment.find_value(key);
        assert!(value.is_ok(), "{var} should set `{key}`");
        let metadata = figment.find_metadata(key).unwrap();
        let path: Vec<&str> = key.split('.').collect();
        assert_eq!(metadata.interpolate(&Profile::Default, &path), *var);
    }
}

/// What the config must show once a variable is set.
type Check = fn(&Config) -> bool;
/// (variable, value, other variables it needs, check); `required()` is added.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Check);
/// (variable, value, the whole environment it needs, check).
type FileCase<'a> = (&'a str, String, Vec<(String, String)>, Check);

#[test]
fn each_legacy_name_reaches_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    };
    let app = file("app", "xapp-from-file\n");
    let bot = file("bot", "xoxb-from-file\n");
    let db = file("db", "postgres://from-file/janus\n");
    let pw = file("pw", "pw-from-file\n");
    let key = file("key", "key-from-file\n");
    let templates = dir.path().display().to_string();

    let cases: Vec<Case> = vec![
        ("SLACK_APP_TOKEN", "xapp-legacy", vec![], |c| {
            c.slack.app_token.expose_secret() == "xapp-legacy"
        }),
        ("SLACK_BOT_TOKEN", "xoxb-legacy", vec![], |c| {
            c.slack.bot_token.expose_secret() == "xoxb-legacy"
        }),
        ("SLACK_API_URL", "http://127.0.0.1:9000/api/", vec![], |c| {
            c.slack.api_url.as_str() == "http://127.0.0.1:9000/api/"
        }),
        ("SLACK_WORKSPACE_ID", "globex", vec![], |c| {
            c.slack.workspace_id.as_deref() == Some("globex")
        }),
        ("SLACK_SIGNING_SECRET", "sig", vec![], |c| {
            c.warnings().len() == 1
        }),
        ("SLACK_VERIFICATION_TOKEN", "ver", vec![], |c| {
            c.warnings().len() == 1
        }),
        ("DATABASE_URL", "postgres://other/db", vec![], |c| {
            c.database_url().expose_secret() == "postgres://other/db"
        }),
        ("INCIDENTS_DIGEST_CHANNEL", "#ops-digest", vec![], |c| {
            c.incident.digest_channel == "ops-digest"
        }),
        (
            "VIDEO_CONFERENCING_LINK",
            "https://meet.example/abc",
            vec![],
            |c| c.incident.video_link.as_ref().map(Url::as_str) == Some("https://meet.example/abc"),
        ),
        (
            "INCIDENT_AUTO_GROUP_INVITE_ENABLED",
            "true",
            vec![("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", "sre")],
            |c| c.auto_invite.is_some(),
        ),
        (
            "INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME",
            "@oncall",
            vec![("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "1")],
            |c| c.auto_invite.as_ref().unwrap().group == "oncall",
        ),
        (
            "INCIDENT_EXTERNAL_PROVIDERS_ENABLED",
            "yes",
            vec![("INCIDENT_EXTERNAL_PROVIDERS_LIST", "github")],
            |c| c.providers.is_some(),
        ),
        (
            "INCIDENT_EXTERNAL_PROVIDERS_LIST",
            "heroku,slack",
            vec![("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "on")],
            |c| c.providers.as_ref().unwrap().list.len() == 2,
        ),
        (
            "INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED",
            "True",
            vec![("INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME", "fire")],
            |c| c.react.is_some(),
        ),
        (
            "INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME",
            ":rotating_light:",
            vec![("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "1")],
            |c| c.react.as_ref().unwrap().emoji == "rotating_light",
        ),
        (
            "STATUSPAGE_INTEGRATION_ENABLED",
            "true",
            vec![("STATUSPAGE_API_KEY", "k"), ("STATUSPAGE_PAGE_ID", "p")],
            |c| c.statuspage.is_some(),
        ),
        (
            "STATUSPAGE_API_KEY",
            "key-legacy",
            vec![
                ("STATUSPAGE_INTEGRATION_ENABLED", "1"),
                ("STATUSPAGE_PAGE_ID", "p"),
            ],
            |c| c.statuspage.as_ref().unwrap().api_key.expose_secret() == "key-legacy",
        ),
        (
            "STATUSPAGE_PAGE_ID",
            "page42",
            vec![
                ("STATUSPAGE_INTEGRATION_ENABLED", "1"),
                ("STATUSPAGE_API_KEY", "k"),
            ],
            |c| c.statuspage.as_ref().unwrap().page_id == "page42",
        ),
        (
            "STATUSPAGE_API_URL",
            "http://127.0.0.1:9001/v1",
            vec![
                ("STATUSPAGE_INTEGRATION_ENABLED", "1"),
                ("STATUSPAGE_API_KEY", "k"),
                ("STATUSPAGE_PAGE_ID", "p"),
            ],
            |c| c.statuspage.as_ref().unwrap().api_url.as_str() == "http://127.0.0.1:9001/v1",
        ),
    ];
    // Cases whose value is a path made above, or that replace a required variable.
    let without = |names: &[&str]| -> Vec<(String, String)> {
        required()
            .into_iter()
            .filter(|(k, _)| !names.contains(&k.as_str()))
            .collect()
    };
    let file_cases: Vec<FileCase> = vec![
        (
            "SLACK_APP_TOKEN_FILE",
            app,
            without(&["SLACK_APP_TOKEN"]),
            |c| c.slack.app_token.expose_secret() == "xapp-from-file",
        ),
        (
            "SLACK_BOT_TOKEN_FILE",
            bot,
            without(&["SLACK_BOT_TOKEN"]),
            |c| c.slack.bot_token.expose_secret() == "xoxb-from-file",
        ),
        ("DATABASE_URL_FILE", db, without(&["DATABASE_URL"]), |c| {
            c.database_url().expose_secret() == "postgres://from-file/janus"
        }),
        (
            "DATABASE_HOST",
            "pg.internal".into(),
            [
                without(&["DATABASE_URL"]),
                pairs(&[("DATABASE_NAME", "n"), ("DATABASE_USER", "u")]),
            ]
            .concat(),
            |c| c.database_url().expose_secret() == "postgres://u@pg.internal:5432/n",
        ),
        (
            "DATABASE_PORT",
            "6543".into(),
            [
                without(&["DATABASE_URL"]),
                pairs(&[
                    ("DATABASE_HOST", "h"),
                    ("DATABASE_NAME", "n"),
                    ("DATABASE_USER", "u"),
                ]),
            ]
            .concat(),
            |c| c.database_url().expose_secret() == "postgres://u@h:6543/n",
        ),
        (
            "DATABASE_NAME",
            "janusdb".into(),
            [
                without(&["DATABASE_URL"]),
                pairs(&[("DATABASE_HOST", "h"), ("DATABASE_USER", "u")]),
            ]
            .concat(),
            |c| c.database_url().expose_secret() == "postgres://u@h:5432/janusdb",
        ),
        (
            "DATABASE_USER",
            "bob".into(),
            [
                without(&["DATABASE_URL"]),
                pairs(&[("DATABASE_HOST", "h"), ("DATABASE_NAME", "n")]),
            ]
            .concat(),
            |c| c.database_url().expose_secret() == "postgres://bob@h:5432/n",
        ),
        (
            "DATABASE_PASSWORD",
            "0123".into(),
            [
                without(&["DATABASE_URL"]),
                pairs(&[
                    ("DATABASE_HOST", "h"),
                    ("DATABASE_NAME", "n"),
                    ("DATABASE_USER", "u"),
                ]),
            ]
            .concat(),
            |c| c.database_url().expose_secret() == "postgres://u:0123@h:5432/n",
        ),
        (
            "DATABASE_PASSWORD_FILE",
            pw,
            [
                without(&["DATABASE_URL"]),
                pairs(&[
                    ("DATABASE_HOST", "h"),
                    ("DATABASE_NAME", "n"),
                    ("DATABASE_USER", "u"),
                ]),
            ]
            .concat(),
            |c| c.database_url().expose_secret() == "postgres://u:pw-from-file@h:5432/n",
        ),
        (
            "STATUSPAGE_API_KEY_FILE",
            key,
            [
                required(),
                pairs(&[
                    ("STATUSPAGE_INTEGRATION_ENABLED", "1"),
                    ("STATUSPAGE_PAGE_ID", "p"),
                ]),
            ]
            .concat(),
            |c| c.statuspage.as_ref().unwrap().api_key.expose_secret() == "key-from-file",
        ),
        ("TEMPLATES_DIRECTORY", templates.clone(), required(), |c| {
            c.templates_dir.is_some()
        }),
        (
            "SSL_CERT_FILE",
            file("ca.pem", &test_ca_pem()),
            required(),
            |c| c.egress.extra_roots.len() == 1,
        ),
    ];

    let mut covered: Vec<&str> = Vec::new();
    for (var, value, extra, check) in cases {
        let mut env = required();
        env.extend(pairs(&extra));
        env.push((var.to_owned(), value.to_owned()));
        let config = Config::load_from(None, env).unwrap_or_else(|e| panic!("{var}: {e}"));
        assert!(
            check(&config),
            "{var}={value} did not reach the config: {config:?}"
        );
        covered.push(var);
    }
    for (var, value, mut env, check) in file_cases {
        env.push((var.to_owned(), value.clone()));
        let config = Config::load_from(None, env).unwrap_or_else(|e| panic!("{var}: {e}"));
        assert!(
            check(&config),
            "{var}={value} did not reach the config: {config:?}"
        );
        covered.push(var);
    }
    for (var, _) in sources::LEGACY_ENV {
        assert!(covered.contains(var), "no behaviour test for {var}");
    }
}

#[test]
fn janus_config_is_not_a_key() {
    let config = load(&[("JANUS_CONFIG", "/etc/janus/janus.toml")]).unwrap();
    assert_eq!(config.slack.sockets, 2);
}

#[test]
fn test_suite_variables_are_not_keys() {
    assert!(load(&[("JANUS_TEST_DATABASE_URL", "postgres://localhost/postgres")]).is_ok());
}

#[test]
fn a_table_given_as_one_variable_names_that_variable() {
    assert_eq!(
        load_err(&[("JANUS_SLACK", "{sockets=20}")]),
        "invalid value for `slack.sockets` (from environment variable JANUS_SLACK): \
         expected a number from 1 to 10, found 20"
    );
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let config = load_toml(
        "[incident]\ndigest_channel = \"ops\"\n",
        &[("INCIDENTS_DIGEST_CHANNEL", "")],
    )
    .unwrap();
    assert_eq!(config.incident.digest_channel, "ops");
}

// --- values -----------------------------------------------------------------------------

#[test]
fn booleans_accept_every_spelling_from_env_and_toml() {
    let spellings = [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("Yes", true),
        ("on", true),
        ("ON", true),
        ("false", false),
        ("False", false),
        ("0", false),
        ("no", false),
        ("NO", false),
        ("off", false),
        ("Off", false),
    ];
    for (spelling, expected) in spellings {
        let legacy = load(&[
            ("INCIDENT_AUTO_GROUP_INVITE_ENABLED", spelling),
            ("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", "sre"),
        ])
        .unwrap();
        assert_eq!(
            legacy.auto_invite.is_some(),
            expected,
            "legacy env {spelling}"
        );

        let native = load(&[
            ("JANUS_REACT__ENABLED", spelling),
            ("JANUS_REACT__EMOJI", "fire"),
        ])
        .unwrap();
        assert_eq!(native.react.is_some(), expected, "JANUS_ env {spelling}");

        let quoted = format!("[react]\nenabled = \"{spelling}\"\nemoji = \"fire\"\n");
        assert_eq!(
            load_toml(&quoted, &[]).unwrap().react.is_some(),
            expected,
            "TOML \"{spelling}\""
        );
    }
    for (literal, expected) in [("true", true), ("false", false), ("1", true), ("0", false)] {
        let toml = format!("[react]\nenabled = {literal}\nemoji = \"fire\"\n");
        assert_eq!(
            load_toml(&toml, &[]).unwrap().react.is_some(),
            expected,
            "TOML {literal}"
        );
    }
}

#[test]
fn an_unrecognised_boolean_is_invalid_and_names_its_variable() {
    assert_eq!(
        load_err(&[("STATUSPAGE_INTEGRATION_ENABLED", "maybe")]),
        "invalid value for `statuspage.enabled` (from environment variable STATUSPAGE_INTEGRATION_ENABLED): \
         expected a boolean (true/false, yes/no, on/off, 1/0), found \"maybe\""
    );
    assert_eq!(
        load_err(&[("JANUS_REACT__ENABLED", "2")]),
        "invalid value for `react.enabled` (from environment variable JANUS_REACT__ENABLED): \
         expected a boolean (true/false, yes/no, on/off, 1/0), found 2"
    );
}

#[test]
fn prefixes_people_type_are_stripped() {
    let config = load(&[
        ("INCIDENTS_DIGEST_CHANNEL", "#incidents-digest"),
        ("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "true"),
        ("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", "@sre-oncall"),
        ("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "true"),
        (
            "INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME",
            ":+1::skin-tone-2:",
        ),
    ])
    .unwrap();
    assert_eq!(config.incident.digest_channel, "incidents-digest");
    assert_eq!(config.auto_invite.unwrap().group, "sre-oncall");
    assert_eq!(config.react.unwrap().emoji, "+1::skin-tone-2");
}

#[test]
fn a_lone_at_sign_is_not_a_group() {
    assert_eq!(
        load_err(&[
            ("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "true"),
            ("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", "@"),
        ]),
        "invalid value for `auto_invite.group` (from environment variable \
         INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME): expected a user group handle or name, found \"@\""
    );
}

#[test]
fn the_slack_api_url_keeps_a_trailing_slash() {
    let config = load(&[("SLACK_API_URL", "https://slack-gov.com/api")]).unwrap();
    assert_eq!(config.slack.api_url.as_str(), "https://slack-gov.com/api/");
}

#[test]
fn log_format_accepts_json_in_any_case() {
    let config = load(&[("JANUS_LOG_FORMAT", "JSON")]).unwrap();
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(
        load_err(&[("JANUS_LOG_FORMAT", "xml")]),
        "invalid value for `log_format` (from environment variable JANUS_LOG_FORMAT): \
         expected `human` or `json`, found \"xml\""
    );
}

// --- secrets from files ---------------------------------------------------------------

#[test]
fn a_secret_file_is_read_and_its_trailing_newline_trimmed() {
    let token = secret_file("xoxb-from-a-file\n");
    let mut env: Vec<_> = required()
        .into_iter()
        .filter(|(k, _)| k != "SLACK_BOT_TOKEN")
        .collect();
    env.push((
        "JANUS_SLACK__BOT_TOKEN_FILE".into(),
        token.path().display().to_string(),
    ));
    let config = Config::load_from(None, env).unwrap();
    assert_eq!(config.slack.bot_token.expose_secret(), "xoxb-from-a-file");
}

#[test]
fn a_secret_and_its_file_together_conflict() {
    let token = secret_file("xapp-other\n");
    let path = token.path().display().to_string();
    assert_eq!(
        load_err(&[("SLACK_APP_TOKEN_FILE", &path)]),
        "conflicting settings: `slack.app_token` (from environment variable SLACK_APP_TOKEN) and \
         `slack.app_token_file` (from environment variable SLACK_APP_TOKEN_FILE) are both set; set only one"
    );
}

#[test]
fn an_unreadable_secret_file_names_the_key_and_the_path() {
    let mut env: Vec<_> = required()
        .into_iter()
        .filter(|(k, _)| k != "DATABASE_URL")
        .collect();
    env.push((
        "DATABASE_URL_FILE".into(),
        "/nonexistent/janus/db-url".into(),
    ));
    let message = Config::load_from(None, env).unwrap_err().to_string();
    assert!(
        message.starts_with(
            "cannot read the file /nonexistent/janus/db-url named by `database.url_file` \
             (from environment variable DATABASE_URL_FILE): "
        ),
        "{message}"
    );
}

#[test]
fn an_empty_secret_file_is_invalid() {
    let empty = secret_file("\n");
    let path = empty.path().display().to_string();
    let env: Vec<_> = [
        required(),
        pairs(&[
            ("STATUSPAGE_INTEGRATION_ENABLED", "1"),
            ("STATUSPAGE_PAGE_ID", "p"),
            ("STATUSPAGE_API_KEY_FILE", &path),
        ]),
    ]
    .concat();
    assert_eq!(
        Config::load_from(None, env).unwrap_err().to_string(),
        format!(
            "invalid value for `statuspage.api_key_file` (from environment variable STATUSPAGE_API_KEY_FILE): \
             the file {path} is empty"
        )
    );
}

// --- errors -----------------------------------------------------------------------------

#[test]
fn an_unknown_toml_key_names_the_key_and_the_file() {
    assert_eq!(
        toml_err("[slack]\nsokets = 3\n", &[]),
        "unknown key `slack.sokets` in TOML file FILE"
    );
    assert_eq!(
        toml_err("[slak]\nsockets = 3\n", &[]),
        "unknown key `slak` in TOML file FILE"
    );
    assert_eq!(
        toml_err(
            "[providers.github]\nurl = \"https://x.example\"\nuri = 1\n",
            &[]
        ),
        "unknown key `providers.github.uri` in TOML file FILE"
    );
}

#[test]
fn an_unknown_janus_variable_names_the_key_and_the_variable() {
    assert_eq!(
        load_err(&[("JANUS_SLACK__SOKETS", "3")]),
        "unknown key `slack.sokets` in environment variable JANUS_SLACK__SOKETS"
    );
    assert_eq!(
        load_err(&[("JANUS_LOG_LEVLE", "debug")]),
        "unknown key `log_levle` in environment variable JANUS_LOG_LEVLE"
    );
}

#[test]
fn an_out_of_range_number_names_the_key_the_variable_and_the_value() {
    assert_eq!(
        load_err(&[("JANUS_SLACK__SOCKETS", "20")]),
        "invalid value for `slack.sockets` (from environment variable JANUS_SLACK__SOCKETS): \
         expected a number from 1 to 10, found 20"
    );
    assert_eq!(
        toml_err("[slack]\nsockets = 0\n", &[]),
        "invalid value for `slack.sockets` (from TOML file FILE): expected a number from 1 to 10, found 0"
    );
    assert_eq!(
        toml_err("[slack]\nsockets = \"many\"\n", &[]),
        "invalid value for `slack.sockets` (from TOML file FILE): expected a number from 1 to 10, found \"many\""
    );
}

#[test]
fn a_wrongly_typed_toml_value_names_what_was_expected() {
    assert_eq!(
        toml_err("[incident]\ndigest_channel = [\"a\"]\n", &[]),
        "invalid value for `incident.digest_channel` (from TOML file FILE): expected a string, found an array"
    );
}

#[test]
fn an_invalid_url_names_the_legacy_variable() {
    assert_eq!(
        load_err(&[("SLACK_API_URL", "slack.com/api")]),
        "invalid value for `slack.api_url` (from environment variable SLACK_API_URL): \
         expected an http(s) URL, found \"slack.com/api\" (relative URL without a base)"
    );
    assert_eq!(
        load_err(&[("SLACK_API_URL", "ftp://slack.com/api")]),
        "invalid value for `slack.api_url` (from environment variable SLACK_API_URL): \
         expected an http(s) URL, found \"ftp://slack.com/api\" (scheme `ftp`)"
    );
}

#[test]
fn a_token_of_the_wrong_kind_is_invalid_without_echoing_it() {
    let message = load_err(&[("SLACK_APP_TOKEN", "xoxb-secret-bot")]);
    assert_eq!(
        message,
        "invalid value for `slack.app_token` (from environment variable SLACK_APP_TOKEN): \
         expected an app-level token (Socket Mode, scope connections:write) starting with `xapp-`"
    );
    let message = toml_err("[slack]\nbot_token = 12345\n", &[("SLACK_BOT_TOKEN", "")]);
    assert_eq!(
        message,
        "invalid value for `slack.bot_token` (from TOML file FILE): expected a string"
    );
}

#[test]
fn a_missing_required_setting_names_the_key_and_every_variable() {
    let env: Vec<_> = required()
        .into_iter()
        .filter(|(k, _)| k != "SLACK_APP_TOKEN")
        .collect();
    assert_eq!(
        Config::load_from(None, env).unwrap_err().to_string(),
        "missing required setting `slack.app_token`: set it in the TOML file or with SLACK_APP_TOKEN or \
         JANUS_SLACK__APP_TOKEN, or name a file holding it with `slack.app_token_file` \
         (SLACK_APP_TOKEN_FILE or JANUS_SLACK__APP_TOKEN_FILE)"
    );
}

#[test]
fn the_workspace_id_is_optional() {
    // Links then use the workspace URL that `auth.test` reports.
    let env: Vec<_> = required()
        .into_iter()
        .filter(|(k, _)| k != "SLACK_WORKSPACE_ID")
        .collect();
    let config = Config::load_from(None, env).expect("loads without a workspace id");
    assert_eq!(config.slack.workspace_id, None);
}

#[test]
fn an_enabled_integration_requires_its_settings() {
    assert_eq!(
        load_err(&[("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "true")]),
        "missing required setting `auto_invite.group`: set it in the TOML file or with \
         INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME or JANUS_AUTO_INVITE__GROUP (required because `auto_invite.enabled` is true)"
    );
    assert_eq!(
        load_err(&[("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "true")]),
        "missing required setting `react.emoji`: set it in the TOML file or with \
         INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME or JANUS_REACT__EMOJI (required because `react.enabled` is true)"
    );
    assert_eq!(
        load_err(&[
            ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
            ("STATUSPAGE_PAGE_ID", "p")
        ]),
        "missing required setting `statuspage.api_key`: set it in the TOML file or with STATUSPAGE_API_KEY or \
         JANUS_STATUSPAGE__API_KEY, or name a file holding it with `statuspage.api_key_file` \
         (STATUSPAGE_API_KEY_FILE or JANUS_STATUSPAGE__API_KEY_FILE) (required because `statuspage.enabled` is true)"
    );
    assert_eq!(
        load_err(&[
            ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
            ("STATUSPAGE_API_KEY", "k")
        ]),
        "missing required setting `statuspage.page_id`: set it in the TOML file or with STATUSPAGE_PAGE_ID or \
         JANUS_STATUSPAGE__PAGE_ID (required because `statuspage.enabled` is true)"
    );
    assert_eq!(
        load_err(&[
            ("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "true"),
            ("INCIDENT_EXTERNAL_PROVIDERS_LIST", " , ")
        ]),
        "missing required setting `providers.list`: set it in the TOML file or with \
         INCIDENT_EXTERNAL_PROVIDERS_LIST or JANUS_PROVIDERS__LIST (required because `providers.enabled` is true)"
    );
}

#[test]
fn a_disabled_integration_ignores_its_incomplete_settings() {
    let config = load(&[
        ("STATUSPAGE_PAGE_ID", "p"),
        ("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "no"),
    ])
    .unwrap();
    assert!(config.statuspage.is_none());
    assert!(config.auto_invite.is_none());
}

#[test]
fn a_missing_config_file_is_an_error_naming_the_path() {
    let error =
        Config::load_from(Some(Path::new("/nonexistent/janus.toml")), required()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config file /nonexistent/janus.toml does not exist"
    );
}

#[test]
fn a_toml_syntax_error_is_one_line() {
    let message = toml_err("[slack\nsockets = 3\n", &[]);
    assert!(
        message.starts_with("syntax error in TOML file FILE: line 1, column "),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
}

// --- database -----------------------------------------------------------------------------

fn without_database_url() -> Vec<(String, String)> {
    required()
        .into_iter()
        .filter(|(k, _)| k != "DATABASE_URL")
        .collect()
}

#[test]
fn the_database_url_is_composed_with_percent_encoding() {
    let mut env = without_database_url();
    env.extend(pairs(&[
        ("DATABASE_HOST", "db.internal"),
        ("DATABASE_PORT", "6432"),
        ("DATABASE_NAME", "janus prod"),
        ("DATABASE_USER", "jan@us"),
        ("DATABASE_PASSWORD", "p@ss:w/rd%#?"),
    ]));
    let config = Config::load_from(None, env).unwrap();
    assert_eq!(
        config.database_url().expose_secret(),
        "postgres://jan%40us:p%40ss%3Aw%2Frd%25%23%3F@db.internal:6432/janus%20prod"
    );
}

#[test]
fn an_ipv6_database_host_is_bracketed() {
    let mut env = without_database_url();
    env.extend(pairs(&[
        ("DATABASE_HOST", "::1"),
        ("DATABASE_NAME", "janus"),
        ("DATABASE_USER", "janus"),
    ]));
    let config = Config::load_from(None, env).unwrap();
    assert_eq!(
        config.database_url().expose_secret(),
        "postgres://janus@[::1]:5432/janus"
    );
}

#[test]
fn without_database_settings_the_store_is_sqlite_in_the_working_directory() {
    let config = Config::load_from(None, without_database_url()).unwrap();
    assert_eq!(config.database_url().expose_secret(), "sqlite://janus.db");
    assert_eq!(config.database.redacted_url(), "sqlite://janus.db");
    assert_eq!(config.database.max_connections, 10);
}

#[test]
fn without_database_settings_the_store_is_sqlite_in_the_systemd_state_directory() {
    let mut env = without_database_url();
    env.extend(pairs(&[("STATE_DIRECTORY", "/var/lib/janus")]));
    let config = Config::load_from(None, env).unwrap();
    assert_eq!(
        config.database_url().expose_secret(),
        "sqlite:///var/lib/janus/janus.db"
    );
}

#[test]
fn of_several_state_directories_the_first_holds_the_database() {
    let mut env = without_database_url();
    env.extend(pairs(&[(
        "STATE_DIRECTORY",
        "/var/lib/janus:/var/lib/other",
    )]));
    let config = Config::load_from(None, env).unwrap();
    assert_eq!(
        config.database_url().expose_secret(),
        "sqlite:///var/lib/janus/janus.db"
    );
}

#[test]
fn a_state_directory_with_url_characters_is_escaped_for_the_driver() {
    let mut env = without_database_url();
    env.extend(pairs(&[("STATE_DIRECTORY", "/srv/50%?#")]));
    let config = Config::load_from(None, env).unwrap();
    assert_eq!(
        config.database_url().expose_secret(),
        "sqlite:///srv/50%25%3F%23/janus.db"
    );
}

#[test]
fn a_configured_database_wins_over_the_state_directory() {
    let config = load(&[("STATE_DIRECTORY", "/var/lib/janus")]).unwrap();
    assert_eq!(
        config.database_url().expose_secret(),
        "postgres://janus:hunter2@db.internal:5432/janus"
    );
}

#[test]
fn a_sqlite_database_url_is_taken_as_given() {
    let config = load(&[("DATABASE_URL", "sqlite:///data/janus.db")]).unwrap();
    assert_eq!(
        config.database_url().expose_secret(),
        "sqlite:///data/janus.db"
    );
    assert_eq!(config.database.redacted_url(), "sqlite:///data/janus.db");
    let odd = DatabaseConfig {
        url: SecretString::from("sqlite:hunter2@db"),
        max_connections: 1,
        tls: DatabaseTls::default(),
    };
    assert!(!format!("{odd:?}").contains("hunter2"));
}

#[test]
fn database_parts_without_a_host_are_an_error_not_the_default() {
    let mut env = without_database_url();
    env.extend(pairs(&[("DATABASE_NAME", "janus")]));
    assert_eq!(
        Config::load_from(None, env).unwrap_err().to_string(),
        "missing required setting `database.host`: set it in the TOML file or with DATABASE_HOST or \
         JANUS_DATABASE__HOST (required because `database.name` is set)"
    );
}

#[test]
fn a_database_host_needs_a_name_and_a_user() {
    let mut env = without_database_url();
    env.extend(pairs(&[("DATABASE_HOST", "h"), ("DATABASE_USER", "u")]));
    assert_eq!(
        Config::load_from(None, env).unwrap_err().to_string(),
        "missing required setting `database.name`: set it in the TOML file or with DATABASE_NAME or \
         JANUS_DATABASE__NAME (required because `database.host` is set)"
    );
}

#[test]
fn a_database_url_and_host_together_are_ambiguous() {
    assert_eq!(
        toml_err("[database]\nhost = \"db\"\n", &[]),
        "conflicting settings: `database.url` (from environment variable DATABASE_URL) and `database.host` \
         (from TOML file FILE) are both set; give either the whole URL or its parts (host, port, name, user, \
         password), not both"
    );
}

#[test]
fn an_unparsable_database_url_is_invalid_without_echoing_it() {
    let message = load_err(&[("DATABASE_URL", "janus:hunter2@db")]);
    assert_eq!(
        message,
        "invalid value for `database.url` (from environment variable DATABASE_URL): \
         expected a URL such as postgres://user:password@host:5432/name (scheme postgres, postgresql, sqlite)"
    );
    let odd = DatabaseConfig {
        url: SecretString::from("janus:hunter2@db"),
        max_connections: 1,
        tls: DatabaseTls::default(),
    };
    assert_eq!(odd.redacted_url(), "janus:[REDACTED]");
    assert!(!format!("{odd:?}").contains("hunter2"));
}

// --- secrets stay secret ------------------------------------------------------------------

#[test]
fn debug_never_shows_secrets() {
    let config = load(&[
        ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
        ("STATUSPAGE_API_KEY", "statuspage-secret-key"),
        ("STATUSPAGE_PAGE_ID", "page"),
        ("SLACK_SIGNING_SECRET", "signing-secret-value"),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    for secret in [
        "secret-app",
        "secret-bot",
        "hunter2",
        "statuspage-secret-key",
        "signing-secret-value",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked in {debug}");
    }
    assert!(
        debug.contains("postgres://janus:***@db.internal:5432/janus"),
        "{debug}"
    );
    assert_eq!(
        config.database.redacted_url(),
        "postgres://janus:***@db.internal:5432/janus"
    );

    let mut env = without_database_url();
    env.extend(pairs(&[
        ("DATABASE_HOST", "h"),
        ("DATABASE_NAME", "n"),
        ("DATABASE_USER", "u"),
        ("DATABASE_PASSWORD", "composed-pw"),
    ]));
    let debug = format!("{:?}", Config::load_from(None, env).unwrap());
    assert!(!debug.contains("composed-pw"), "{debug}");
}

#[test]
fn ignored_slack_secrets_give_one_warning_without_their_values() {
    let config = load(&[
        ("SLACK_SIGNING_SECRET", "sig-value"),
        ("SLACK_VERIFICATION_TOKEN", "ver-value"),
    ])
    .unwrap();
    assert_eq!(
        config.warnings(),
        vec![
            "`slack.signing_secret` (from environment variable SLACK_SIGNING_SECRET) and \
             `slack.verification_token` (from environment variable SLACK_VERIFICATION_TOKEN) are not needed \
             in Socket Mode and ignored; remove them"
                .to_owned()
        ]
    );
}

// --- providers ------------------------------------------------------------------------------

fn provider_names(config: &Config) -> Vec<&str> {
    config
        .providers
        .as_ref()
        .unwrap()
        .list
        .iter()
        .map(|p| p.name.as_str())
        .collect()
}

#[test]
fn the_providers_list_is_trimmed_lowercased_and_deduplicated() {
    let config = load(&[
        ("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "true"),
        (
            "INCIDENT_EXTERNAL_PROVIDERS_LIST",
            " GitHub, heroku,,github , Slack ",
        ),
    ])
    .unwrap();
    assert_eq!(provider_names(&config), ["github", "heroku", "slack"]);
    assert!(
        config
            .providers
            .unwrap()
            .list
            .iter()
            .all(|p| p.url.is_none())
    );
}

#[test]
fn the_providers_list_is_an_array_in_toml_and_in_janus_env() {
    let config = load_toml(
        "[providers]\nenabled = true\nlist = [\"heroku\", \"GitHub\"]\n",
        &[],
    )
    .unwrap();
    assert_eq!(provider_names(&config), ["heroku", "github"]);
    let config = load(&[
        ("JANUS_PROVIDERS__ENABLED", "1"),
        ("JANUS_PROVIDERS__LIST", "[slack, github]"),
    ])
    .unwrap();
    assert_eq!(provider_names(&config), ["slack", "github"]);
}

#[test]
fn a_provider_url_can_be_overridden_from_toml_or_env() {
    let config = load_toml(
        "[providers]\nenabled = true\nlist = [\"github\", \"acme\"]\n[providers.acme]\nurl = \"https://status.acme.example/api/v2/\"\n",
        &[("JANUS_PROVIDERS__GITHUB__URL", "http://127.0.0.1:9002/api/v2/")],
    )
    .unwrap();
    let list = config.providers.unwrap().list;
    assert_eq!(
        list[0].url.as_ref().unwrap().as_str(),
        "http://127.0.0.1:9002/api/v2/"
    );
    assert_eq!(
        list[1].url.as_ref().unwrap().as_str(),
        "https://status.acme.example/api/v2/"
    );
}

#[test]
fn a_provider_that_is_not_built_in_needs_a_url() {
    assert_eq!(
        load_err(&[
            ("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "true"),
            ("INCIDENT_EXTERNAL_PROVIDERS_LIST", "github,acme")
        ]),
        "missing required setting `providers.acme.url`: `acme` is not a built-in provider (github, heroku, slack), \
         so set the base URL of its status API in the TOML file or with JANUS_PROVIDERS__ACME__URL"
    );
}

#[test]
fn a_provider_url_that_is_not_listed_gives_a_warning() {
    let config = load(&[
        ("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "true"),
        ("INCIDENT_EXTERNAL_PROVIDERS_LIST", "github"),
        (
            "JANUS_PROVIDERS__HEROKU__URL",
            "https://status.heroku.example/",
        ),
    ])
    .unwrap();
    assert_eq!(
        config.warnings(),
        ["`providers.heroku.url` is set but `heroku` is not in `providers.list`; it is ignored"]
    );
}

#[test]
fn a_misspelt_providers_key_is_reported_with_what_was_expected() {
    assert_eq!(
        toml_err("[providers]\nenabeld = true\n", &[]),
        "invalid value for `providers.enabeld` (from TOML file FILE): \
         expected `enabled`, `list`, or a provider table with a `url` key, found true"
    );
}

// --- incident: time zone --------------------------------------------------------------------

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    use chrono::TimeZone as _;
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

#[test]
fn incident_times_are_utc_unless_a_timezone_is_configured() {
    let at = utc(2026, 7, 1, 22, 30);
    let config = load(&[]).unwrap();
    assert_eq!(config.incident.local_time(at), at.naive_utc());
    assert_eq!(config.incident.timezone.name(), "UTC");
}

#[test]
fn the_timezone_comes_from_toml_or_env() {
    let at = utc(2026, 7, 1, 22, 30);
    let config = load_toml("[incident]\ntimezone = \"Europe/Berlin\"\n", &[]).unwrap();
    assert_eq!(
        config.incident.local_time(at).to_string(),
        "2026-07-02 00:30:00"
    );
    let config = load(&[("JANUS_INCIDENT__TIMEZONE", "america/new_york")]).unwrap();
    assert_eq!(config.incident.timezone.name(), "America/New_York");
    assert_eq!(
        config.incident.local_time(at).to_string(),
        "2026-07-01 18:30:00"
    );
}

#[test]
fn an_unknown_timezone_names_the_key_and_the_source() {
    assert_eq!(
        load_err(&[("JANUS_INCIDENT__TIMEZONE", "Europe/Berln")]),
        "invalid value for `incident.timezone` (from environment variable JANUS_INCIDENT__TIMEZONE): \
         expected an IANA time zone name such as `Europe/Berlin` or `UTC`, found \"Europe/Berln\""
    );
    assert_eq!(
        toml_err("[incident]\ntimezone = \"+02:00\"\n", &[]),
        "invalid value for `incident.timezone` (from TOML file FILE): \
         expected an IANA time zone name such as `Europe/Berlin` or `UTC`, found \"+02:00\""
    );
    assert_eq!(
        toml_err("[incident]\ntimezone = 2\n", &[]),
        "invalid value for `incident.timezone` (from TOML file FILE): expected a string, found 2"
    );
}

// --- incident: statuses, severities, roles ----------------------------------------------------

fn values(choices: &[crate::domain::incident::Choice]) -> Vec<(&str, &str)> {
    choices.iter().map(|c| (c.value(), c.label())).collect()
}

#[test]
fn statuses_can_be_tables_or_plain_values() {
    let config = load_toml(
        "[incident]\nstatuses = [\"triage\", { value = \"root_cause_found\" }, \"monitoring\", \
         { value = \"closed\", label = \"Closed for good\" }]\n",
        &[],
    )
    .unwrap();
    let catalog = &config.incident.catalog;
    assert_eq!(
        values(catalog.statuses()),
        [
            ("triage", "Triage"),
            ("root_cause_found", "Root cause found"),
            // A built-in value keeps its built-in label.
            ("monitoring", "Monitoring"),
            ("closed", "Closed for good"),
        ]
    );
    assert_eq!(catalog.initial_status().value(), "triage");
    assert_eq!(catalog.resolved_status().value(), "closed");
    // Unchanged lists keep their defaults.
    assert_eq!(catalog.severities(), Catalog::default().severities());
    assert_eq!(catalog.roles(), Catalog::default().roles());
}

#[test]
fn severities_and_statuses_can_be_comma_lists_in_the_environment() {
    let config = load(&[
        ("JANUS_INCIDENT__SEVERITIES", " p1, p2 ,,p3 "),
        ("JANUS_INCIDENT__STATUSES", "[open, closed]"),
    ])
    .unwrap();
    let catalog = &config.incident.catalog;
    assert_eq!(
        values(catalog.severities()),
        [("p1", "P1"), ("p2", "P2"), ("p3", "P3")]
    );
    assert_eq!(
        values(catalog.statuses()),
        [("open", "Open"), ("closed", "Closed")]
    );
}

#[test]
fn the_default_severity_is_the_last_listed_unless_configured() {
    let config = load(&[("JANUS_INCIDENT__SEVERITIES", "sev1,sev2,sev3")]).unwrap();
    let catalog = &config.incident.catalog;
    assert_eq!(catalog.default_severity().value(), "sev3");
    assert_eq!(catalog.default_severity().label(), "SEV3");

    let config = load(&[("JANUS_INCIDENT__DEFAULT_SEVERITY", "sev2")]).unwrap();
    assert_eq!(config.incident.catalog.default_severity().value(), "sev2");
}

#[test]
fn an_unknown_default_severity_names_the_key_and_the_source() {
    assert_eq!(
        load_err(&[("JANUS_INCIDENT__DEFAULT_SEVERITY", "sev5")]),
        "invalid value for `incident.default_severity` (from environment variable \
         JANUS_INCIDENT__DEFAULT_SEVERITY): \"sev5\" is not one of the severities (sev1, sev2, sev3, sev4)"
    );
}

#[test]
fn an_invalid_status_list_names_the_key_and_the_source() {
    assert_eq!(
        toml_err("[incident]\nstatuses = [\"open\", \"Closed\"]\n", &[]),
        "invalid value for `incident.statuses` (from TOML file FILE): \"Closed\" is not a valid key: \
         expected 1 to 64 lowercase letters, digits and `_`"
    );
    assert_eq!(
        load_err(&[("JANUS_INCIDENT__STATUSES", "open,fixing,open")]),
        "invalid value for `incident.statuses` (from environment variable JANUS_INCIDENT__STATUSES): \
         \"open\" appears more than once"
    );
    assert_eq!(
        toml_err("[incident]\nstatuses = [\"open\"]\n", &[]),
        "invalid value for `incident.statuses` (from TOML file FILE): expected 2 to 100 statuses, found 1"
    );
    let long = "L".repeat(76);
    assert_eq!(
        toml_err(
            &format!("[incident]\nseverities = [{{ value = \"p1\", label = \"{long}\" }}]\n"),
            &[]
        ),
        "invalid value for `incident.severities` (from TOML file FILE): \
         the label of \"p1\" must be 1 to 75 characters, found 76"
    );
}

#[test]
fn a_misshapen_status_list_names_what_was_expected() {
    assert_eq!(
        toml_err("[incident]\nstatuses = 3\n", &[]),
        "invalid value for `incident.statuses` (from TOML file FILE): expected an array of values \
         or `{ value, label }` tables, or a comma-separated string, found 3"
    );
    assert_eq!(
        toml_err("[incident]\nstatuses = [{ valeu = \"open\" }]\n", &[]),
        "unknown key `incident.statuses.0.valeu` in TOML file FILE"
    );
}

const ROLES: &str = "[incident]\n\
    [[incident.roles]]\nkey = \"incident_commander\"\n\
    [[incident.roles]]\nkey = \"scribe\"\nlabel = \"Scribe\"\nduties = \"Write down what happens.\"\n";

#[test]
fn roles_come_from_toml_tables_and_built_in_roles_keep_their_text() {
    let config = load_toml(ROLES, &[]).unwrap();
    let roles = config.incident.catalog.roles();
    assert_eq!(roles.len(), 2);
    let built_in = Catalog::default();
    assert_eq!(&roles[0], built_in.role("incident_commander").unwrap());
    assert_eq!(roles[1].key(), "scribe");
    assert_eq!(roles[1].label(), "Scribe");
    assert_eq!(roles[1].duties(), "Write down what happens.");
}

#[test]
fn a_role_that_is_not_built_in_needs_a_label_and_duties() {
    assert_eq!(
        toml_err(
            "[[incident.roles]]\nkey = \"scribe\"\nlabel = \"Scribe\"\n",
            &[]
        ),
        "invalid value for `incident.roles` (from TOML file FILE): role \"scribe\" needs a `duties` \
         (only the built-in roles incident_commander, communications_liaison, technical_lead have one by default)"
    );
}

#[test]
fn an_invalid_role_names_the_key_and_the_source() {
    assert_eq!(
        toml_err(
            "[[incident.roles]]\nkey = \"Scribe\"\nlabel = \"Scribe\"\nduties = \"d\"\n",
            &[]
        ),
        "invalid value for `incident.roles` (from TOML file FILE): \"Scribe\" is not a valid key: \
         expected 1 to 64 lowercase letters, digits and `_`"
    );
    assert_eq!(
        toml_err("incident.roles = []\n", &[]),
        "invalid value for `incident.roles` (from TOML file FILE): expected 1 to 20 roles, found 0"
    );
    assert_eq!(
        toml_err("[[incident.roles]]\nlabel = \"Scribe\"\n", &[]),
        "missing required setting `incident.roles.0.key`: set it in the TOML file"
    );
    assert_eq!(
        toml_err("[[incident.roles]]\nkey = \"scribe\"\ndutys = \"d\"\n", &[]),
        "unknown key `incident.roles.0.dutys` in TOML file FILE"
    );
}

// --- the shipped example ----------------------------------------------------------------------

#[test]
fn the_example_file_parses_with_only_the_tokens_from_env_and_keeps_the_sqlite_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/janus.example.toml");
    let env = pairs(&[
        ("SLACK_APP_TOKEN", "xapp-1-example"),
        ("SLACK_BOT_TOKEN", "xoxb-example"),
    ]);
    let config = Config::load_from(Some(&path), env).unwrap_or_else(|e| panic!("{e}"));
    // Copied as it is, the example must not point Janus at a Postgres nobody set up.
    assert!(config.database.is_sqlite(), "{:?}", config.database);
    assert_eq!(config.database.url.expose_secret(), "sqlite://janus.db");
    assert_eq!(config.slack.api_url.as_str(), DEFAULT_SLACK_API_URL);
    assert_eq!(config.slack.sockets, 2);
    assert_eq!(config.incident.digest_channel, "incidents");
    assert_eq!(config.incident.timezone, Zone::utc());
    assert_eq!(config.incident.catalog, Catalog::default());
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

#[test]
fn the_example_file_shows_the_built_in_catalog_exactly() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/janus.example.toml");
    let example = std::fs::read_to_string(path).unwrap();
    let block: Vec<&str> = example
        .lines()
        .skip_while(|line| !line.starts_with("# The built-in lists, as TOML"))
        .skip(1)
        .take_while(|line| line.starts_with('#'))
        .map(|line| {
            line.strip_prefix("# ")
                .unwrap_or(line.trim_start_matches('#'))
        })
        .collect();
    assert!(block.len() > 20, "the commented catalog is missing");
    let toml = format!("[incident]\n{}\n", block.join("\n"));
    let config = load_toml(&toml, &[]).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(config.incident.catalog, Catalog::default());
}

#[test]
fn the_recovery_interval_defaults_to_a_minute_and_takes_seconds_from_env() {
    assert_eq!(
        load(&[]).unwrap().recovery_interval,
        std::time::Duration::from_secs(60)
    );
    let config = load(&[("JANUS_RECOVERY_INTERVAL", "5")]).unwrap();
    assert_eq!(config.recovery_interval, std::time::Duration::from_secs(5));
}

#[test]
fn a_recovery_interval_out_of_range_names_the_key_and_its_source() {
    let err = load_err(&[("JANUS_RECOVERY_INTERVAL", "0")]);
    assert!(err.contains("`recovery_interval`"), "{err}");
    assert!(err.contains("JANUS_RECOVERY_INTERVAL"), "{err}");
}

// --- reminders ----------------------------------------------------------------------------------

fn secs(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n)
}

#[test]
fn reminders_default_to_sev1_and_sev2_only_and_a_commander_nudge_after_ten_minutes() {
    let reminders = load(&[]).unwrap().reminders;
    assert_eq!(reminders.update_every("sev1"), Some(secs(1800)));
    assert_eq!(reminders.update_every("sev2"), Some(secs(3600)));
    assert_eq!(reminders.update_every("sev3"), None);
    assert_eq!(reminders.update_every("sev4"), None);
    assert_eq!(reminders.unclaimed_commander_after, Some(secs(600)));
}

#[test]
fn a_number_from_env_applies_to_every_severity_and_zero_turns_reminders_off() {
    let config = load(&[
        ("JANUS_REMINDERS__UPDATE_EVERY", "2"),
        ("JANUS_REMINDERS__UNCLAIMED_COMMANDER_AFTER", "0"),
    ])
    .unwrap();
    for severity in ["sev1", "sev2", "sev3", "sev4"] {
        assert_eq!(config.reminders.update_every(severity), Some(secs(2)));
    }
    assert_eq!(config.reminders.unclaimed_commander_after, None);
    let off = load(&[("JANUS_REMINDERS__UPDATE_EVERY", "0")]).unwrap();
    assert!(off.reminders.update_every.is_empty());
}

#[test]
fn a_toml_table_sets_reminders_per_severity_and_leaves_the_others_off() {
    let config = load_toml(
        "[reminders]\nunclaimed_commander_after = 300\n[reminders.update_every]\nsev1 = 900\nsev3 = 7200\nsev2 = 0\n",
        &[],
    )
    .unwrap();
    assert_eq!(config.reminders.update_every("sev1"), Some(secs(900)));
    assert_eq!(config.reminders.update_every("sev2"), None);
    assert_eq!(config.reminders.update_every("sev3"), Some(secs(7200)));
    assert_eq!(config.reminders.update_every("sev4"), None);
    assert_eq!(config.reminders.unclaimed_commander_after, Some(secs(300)));
}

#[test]
fn a_reminder_for_an_unknown_severity_names_the_key_the_file_and_the_severities() {
    let err = toml_err("[reminders.update_every]\nsev9 = 60\n", &[]);
    assert!(err.contains("`reminders.update_every`"), "{err}");
    assert!(err.contains("FILE"), "{err}");
    assert!(
        err.contains("sev9") && err.contains("sev1, sev2, sev3, sev4"),
        "{err}"
    );
}

#[test]
fn a_reminder_interval_that_is_not_a_number_or_too_long_names_the_key_and_its_source() {
    let err = load_err(&[("JANUS_REMINDERS__UPDATE_EVERY", "soon")]);
    assert!(err.contains("reminders.update_every"), "{err}");
    assert!(err.contains("JANUS_REMINDERS__UPDATE_EVERY"), "{err}");
    let err = load_err(&[("JANUS_REMINDERS__UNCLAIMED_COMMANDER_AFTER", "99999999")]);
    assert!(
        err.contains("`reminders.unclaimed_commander_after`"),
        "{err}"
    );
    assert!(
        err.contains("JANUS_REMINDERS__UNCLAIMED_COMMANDER_AFTER"),
        "{err}"
    );
}

// --- health and metrics listener --------------------------------------------------------------

#[test]
fn the_health_listener_is_off_unless_configured() {
    assert_eq!(load(&[]).unwrap().health, None);
    assert_eq!(load(&[("JANUS_HEALTH__LISTEN", "")]).unwrap().health, None);
}

#[test]
fn a_bare_health_port_binds_to_loopback_only() {
    let listen = |value: &str| {
        load(&[("JANUS_HEALTH__LISTEN", value)])
            .unwrap()
            .health
            .expect("configured")
            .listen
    };
    assert_eq!(listen("9187"), "127.0.0.1:9187".parse().unwrap());
    assert_eq!(listen("0"), "127.0.0.1:0".parse().unwrap());
    let config = load_toml("[health]\nlisten = 9187\n", &[]).unwrap();
    assert_eq!(
        config.health.unwrap().listen,
        "127.0.0.1:9187".parse().unwrap()
    );
}

#[test]
fn a_health_address_is_taken_as_given_from_toml_or_env() {
    let config = load_toml("[health]\nlisten = \"0.0.0.0:9187\"\n", &[]).unwrap();
    assert_eq!(
        config.health.unwrap().listen,
        "0.0.0.0:9187".parse().unwrap()
    );
    let config = load(&[("JANUS_HEALTH__LISTEN", "[::1]:9187")]).unwrap();
    assert_eq!(config.health.unwrap().listen, "[::1]:9187".parse().unwrap());
}

#[test]
fn an_invalid_health_listen_names_the_key_and_its_source() {
    assert_eq!(
        load_err(&[("JANUS_HEALTH__LISTEN", "localhost:9187")]),
        "invalid value for `health.listen` (from environment variable JANUS_HEALTH__LISTEN): \
         expected a port or an IP address with a port, like `9187` or `127.0.0.1:9187`, \
         found \"localhost:9187\""
    );
    assert_eq!(
        toml_err("[health]\nlisten = 70000\n", &[]),
        "invalid value for `health.listen` (from TOML file FILE): expected a port or an IP \
         address with a port, like `9187` or `127.0.0.1:9187`, found 70000 (ports go up to 65535)"
    );
    let err = load_err(&[("JANUS_HEALTH__LISTEN", "127.0.0.1")]);
    assert!(err.contains("`health.listen`"), "{err}");
    assert!(
        toml_err("[health]\nlisen = 9187\n", &[]).contains("unknown key `health.lisen`"),
        "a typo under [health] is an unknown key"
    );
}

// ---- proxy and trust ----

#[test]
fn no_proxy_is_set_unless_something_says_so() {
    let config = load(&[]).unwrap();
    assert!(config.egress.https_proxy.is_none());
    assert!(config.egress.http_proxy.is_none());
    assert!(config.egress.no_proxy.is_empty());
    assert!(config.egress.extra_roots.is_empty());
}

#[test]
fn the_conventional_proxy_variables_apply_by_scheme_lowercase_first() {
    let config = load(&[
        ("HTTPS_PROXY", "http://upper:3128"),
        ("https_proxy", "http://lower:3128"),
        ("HTTP_PROXY", "http://plain:8080"),
        ("NO_PROXY", ".corp.example,10.0.0.0/8"),
    ])
    .unwrap();
    let egress = &config.egress;
    assert_eq!(
        egress.https_proxy.as_ref().unwrap().authority(),
        "lower:3128"
    );
    assert_eq!(
        egress.http_proxy.as_ref().unwrap().authority(),
        "plain:8080"
    );
    assert!(egress.no_proxy.matches("status.corp.example", 443));
    assert!(egress.no_proxy.matches("10.9.8.7", 443));
}

#[test]
fn all_proxy_covers_both_schemes_when_nothing_narrower_is_set() {
    let config = load(&[("ALL_PROXY", "proxy.corp:3128"), ("no_proxy", "localhost")]).unwrap();
    assert_eq!(
        config.egress.https_proxy.as_ref().unwrap().authority(),
        "proxy.corp:3128"
    );
    assert_eq!(
        config.egress.http_proxy.as_ref().unwrap().authority(),
        "proxy.corp:3128"
    );
    assert!(config.egress.no_proxy.matches("localhost", 80));
}

#[test]
fn the_proxy_url_key_wins_over_the_conventional_variables() {
    let config = load_toml(
        "[proxy]\nurl = \"http://alice:hunter2@explicit:3128\"\nno_proxy = \"slack.com\"\n",
        &[("HTTPS_PROXY", "http://env:3128"), ("NO_PROXY", "*")],
    )
    .unwrap();
    let proxy = config.egress.https_proxy.as_ref().unwrap();
    assert_eq!(proxy.to_string(), "http://alice:***@explicit:3128");
    assert_eq!(config.egress.http_proxy.as_ref(), Some(proxy));
    assert!(config.egress.no_proxy.matches("slack.com", 443));
    assert!(!config.egress.no_proxy.matches("example.com", 443));
    // The JANUS_ name sets it as well.
    let config = load(&[("JANUS_PROXY__URL", "http://native:3128")]).unwrap();
    assert_eq!(
        config.egress.https_proxy.unwrap().authority(),
        "native:3128"
    );
}

#[test]
fn the_proxy_password_is_never_in_the_config_debug() {
    let config = load(&[("HTTPS_PROXY", "http://alice:hunter2@proxy:3128")]).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn a_bad_proxy_names_the_variable_and_hides_the_password() {
    let error = load_err(&[("HTTPS_PROXY", "socks5://alice:hunter2@proxy:1080")]);
    assert!(
        error.contains("environment variable HTTPS_PROXY"),
        "{error}"
    );
    assert!(error.contains("only http://"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
    let error = load_err(&[("JANUS_PROXY__URL", "https://alice:hunter2@proxy:3128")]);
    assert!(error.contains("`proxy.url`"), "{error}");
    assert!(error.contains("JANUS_PROXY__URL"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn a_bad_cidr_in_no_proxy_names_the_variable() {
    let error = load_err(&[("NO_PROXY", "10.0.0.0/40")]);
    assert!(error.contains("environment variable NO_PROXY"), "{error}");
    assert!(error.contains("10.0.0.0/40"), "{error}");
}

fn test_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

#[test]
fn the_ca_file_is_read_at_load_from_the_key_or_ssl_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corp-ca.pem");
    std::fs::write(&path, test_ca_pem()).unwrap();
    let from_key = load(&[("JANUS_TLS__CA_FILE", path.to_str().unwrap())]).unwrap();
    assert_eq!(from_key.egress.extra_roots.len(), 1);
    assert_eq!(from_key.egress.ca_file.as_deref(), Some(path.as_path()));
    let from_ssl = load(&[("SSL_CERT_FILE", path.to_str().unwrap())]).unwrap();
    assert_eq!(from_ssl.egress.extra_roots.len(), 1);
}

#[test]
fn an_unreadable_or_invalid_ca_file_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let error = load_err(&[("SSL_CERT_FILE", missing.to_str().unwrap())]);
    assert!(error.contains("`tls.ca_file`"), "{error}");
    assert!(error.contains("SSL_CERT_FILE"), "{error}");
    assert!(error.contains("missing.pem"), "{error}");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let error = load_err(&[("JANUS_TLS__CA_FILE", garbage.to_str().unwrap())]);
    assert!(error.contains("`tls.ca_file`"), "{error}");
    assert!(error.contains("garbage.pem"), "{error}");
}

#[test]
fn guests_and_partners_only_follow_and_five_declarations_per_ten_minutes_by_default() {
    let config = load(&[]).unwrap();
    assert!(!config.incident.allow_external_users);
    assert_eq!(config.incident.max_declarations_per_user, Some(5));

    let config = load(&[
        ("JANUS_INCIDENT__ALLOW_EXTERNAL_USERS", "yes"),
        ("JANUS_INCIDENT__MAX_DECLARATIONS_PER_USER", "0"),
    ])
    .unwrap();
    assert!(config.incident.allow_external_users);
    assert_eq!(
        config.incident.max_declarations_per_user, None,
        "0: no limit"
    );

    let config = load_toml("[incident]\nmax_declarations_per_user = 12\n", &[]).unwrap();
    assert_eq!(config.incident.max_declarations_per_user, Some(12));
}

#[test]
fn a_bad_declaration_limit_names_the_key_and_its_source() {
    let err = load_err(&[("JANUS_INCIDENT__MAX_DECLARATIONS_PER_USER", "many")]);
    assert!(err.contains("incident.max_declarations_per_user"), "{err}");
    assert!(
        err.contains("JANUS_INCIDENT__MAX_DECLARATIONS_PER_USER"),
        "{err}"
    );
    let err = load_err(&[("JANUS_INCIDENT__ALLOW_EXTERNAL_USERS", "perhaps")]);
    assert!(err.contains("incident.allow_external_users"), "{err}");
}

// --- database TLS -------------------------------------------------------------------------

/// `required()` minus its database URL, plus `url` as `DATABASE_URL` and `extra`.
fn load_db(url: &str, extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut env = without_database_url();
    env.extend(pairs(&[("DATABASE_URL", url)]));
    env.extend(pairs(extra));
    Config::load_from(None, env)
}

/// A CA certificate in `dir`/`name`.
fn ca_in(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, test_ca_pem()).unwrap();
    path
}

#[test]
fn without_tls_settings_the_host_decides_the_mode_later() {
    let config = load(&[]).unwrap();
    assert_eq!(config.database.tls.sslmode, None);
    assert!(config.database.tls.ca_files.is_empty());
    assert!(config.database.tls.extra_roots.is_empty());
}

#[test]
fn every_sslmode_is_accepted_in_any_case_from_env_and_toml() {
    for mode in SslMode::ALL {
        let upper = mode.as_str().to_ascii_uppercase();
        let config = load(&[("JANUS_DATABASE__SSLMODE", &upper)]).unwrap();
        assert_eq!(config.database.tls.sslmode, Some(mode));
    }
    let config = load_toml("[database]\nsslmode = \"verify-ca\"\n", &[]).unwrap();
    assert_eq!(config.database.tls.sslmode, Some(SslMode::VerifyCa));
}

#[test]
fn an_unknown_sslmode_names_the_key_its_source_and_the_choices() {
    assert_eq!(
        load_err(&[("JANUS_DATABASE__SSLMODE", "allow")]),
        "invalid value for `database.sslmode` (from environment variable JANUS_DATABASE__SSLMODE): \
         expected one of disable, prefer, require, verify-ca, verify-full, found \"allow\""
    );
    let error = toml_err("[database]\nsslmode = \"on\"\n", &[]);
    assert!(
        error.contains("`database.sslmode` (from TOML file FILE)"),
        "{error}"
    );
}

#[test]
fn the_database_ca_file_is_read_at_load_and_a_bad_one_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_in(dir.path(), "db-ca.pem");
    let config = load(&[("JANUS_DATABASE__CA_FILE", ca.to_str().unwrap())]).unwrap();
    assert_eq!(config.database.tls.extra_roots.len(), 1);
    assert_eq!(
        config.database.tls.ca_files,
        vec![("database.ca_file".to_owned(), ca.clone())]
    );
    let missing = dir.path().join("absent.pem");
    let error = load_err(&[("JANUS_DATABASE__CA_FILE", missing.to_str().unwrap())]);
    assert!(error.contains("`database.ca_file`"), "{error}");
    assert!(error.contains("JANUS_DATABASE__CA_FILE"), "{error}");
    assert!(error.contains("absent.pem"), "{error}");
}

#[test]
fn tls_ca_file_is_trusted_for_postgres_before_the_database_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let corp = ca_in(dir.path(), "corp.pem");
    let db = ca_in(dir.path(), "db.pem");
    let config = load(&[
        ("SSL_CERT_FILE", corp.to_str().unwrap()),
        ("JANUS_DATABASE__CA_FILE", db.to_str().unwrap()),
    ])
    .unwrap();
    let tls = &config.database.tls;
    assert_eq!(
        tls.ca_files,
        vec![
            ("tls.ca_file".to_owned(), corp.clone()),
            ("database.ca_file".to_owned(), db.clone())
        ]
    );
    assert_eq!(tls.extra_roots.len(), 2);
    assert_eq!(tls.extra_roots[0], config.egress.extra_roots[0]);
}

#[test]
fn the_urls_own_sslmode_and_sslrootcert_count_as_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_in(dir.path(), "db-ca.pem");
    let url = format!(
        "postgres://janus:hunter2@db.internal/janus?sslmode=verify-ca&sslrootcert={}",
        ca.display()
    );
    let config = load_db(&url, &[]).unwrap();
    assert_eq!(config.database.tls.sslmode, Some(SslMode::VerifyCa));
    assert_eq!(
        config.database.tls.ca_files,
        vec![("database.url".to_owned(), ca.clone())]
    );
    assert_eq!(config.database.tls.extra_roots.len(), 1);
    // The same value twice is no conflict.
    let config = load_db(
        &url,
        &[
            ("JANUS_DATABASE__SSLMODE", "verify-ca"),
            ("JANUS_DATABASE__CA_FILE", ca.to_str().unwrap()),
        ],
    )
    .unwrap();
    assert_eq!(config.database.tls.sslmode, Some(SslMode::VerifyCa));
    assert_eq!(config.database.tls.extra_roots.len(), 1);
}

#[test]
fn a_url_sslmode_that_differs_from_the_key_is_a_conflict_naming_both() {
    let error = load_db(
        "postgres://janus:hunter2@db.internal/janus?sslmode=require",
        &[("JANUS_DATABASE__SSLMODE", "verify-full")],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "conflicting settings: `database.sslmode` (from environment variable JANUS_DATABASE__SSLMODE) \
         and `database.url` (from environment variable DATABASE_URL) are both set; \
         `database.sslmode` says verify-full and the URL's sslmode says require; keep one"
    );
    assert!(!error.contains("hunter2"));
}

#[test]
fn a_url_sslrootcert_that_differs_from_the_database_ca_file_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_in(dir.path(), "db-ca.pem");
    let error = load_db(
        "postgres://janus:hunter2@db.internal/janus?sslrootcert=/etc/other.pem",
        &[("JANUS_DATABASE__CA_FILE", ca.to_str().unwrap())],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("conflicting settings: `database.ca_file`"),
        "{error}"
    );
    assert!(
        error.contains("`database.url` (from environment variable DATABASE_URL)"),
        "{error}"
    );
    assert!(error.contains("/etc/other.pem"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn a_bad_sslmode_in_the_url_names_the_url_key_without_echoing_the_url() {
    let error = load_db(
        "postgres://janus:hunter2@db.internal/janus?sslmode=maybe",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with(
            "invalid value for `database.url` (from environment variable DATABASE_URL)"
        ),
        "{error}"
    );
    assert!(error.contains("\"maybe\""), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn database_tls_settings_on_sqlite_are_an_error() {
    let error = load_db(
        "sqlite:///var/lib/janus/janus.db",
        &[("JANUS_DATABASE__SSLMODE", "verify-full")],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "invalid value for `database.sslmode` (from environment variable JANUS_DATABASE__SSLMODE): \
         it applies only to a Postgres database, and `database.url` names a SQLite database"
    );
    // Forgetting the Postgres settings must not quietly give a local SQLite file.
    let mut env = without_database_url();
    env.extend(pairs(&[(
        "JANUS_DATABASE__CA_FILE",
        "/etc/janus/db-ca.pem",
    )]));
    let error = Config::load_from(None, env).unwrap_err().to_string();
    assert!(error.contains("`database.ca_file`"), "{error}");
    assert!(
        error.contains("no Postgres database is configured"),
        "{error}"
    );
}

#[test]
fn tls_ca_file_alone_is_fine_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let corp = ca_in(dir.path(), "corp.pem");
    let config = load_db(
        "sqlite:///var/lib/janus/janus.db",
        &[("JANUS_TLS__CA_FILE", corp.to_str().unwrap())],
    )
    .unwrap();
    assert!(config.database.tls.ca_files.is_empty());
    assert_eq!(config.egress.extra_roots.len(), 1);
}

#[test]
fn database_parts_take_the_tls_keys_too() {
    let mut env = without_database_url();
    env.extend(pairs(&[
        ("DATABASE_HOST", "db.internal"),
        ("DATABASE_NAME", "janus"),
        ("DATABASE_USER", "janus"),
        ("JANUS_DATABASE__SSLMODE", "require"),
    ]));
    let config = Config::load_from(None, env).unwrap();
    assert_eq!(config.database.tls.sslmode, Some(SslMode::Require));
}

/// Statuspage enabled with the key and page, plus `extra`.
fn statuspage_with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut env = vec![
        ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
        ("STATUSPAGE_API_KEY", "k"),
        ("STATUSPAGE_PAGE_ID", "p"),
    ];
    env.extend_from_slice(extra);
    load(&env)
}

#[test]
fn statuspage_publishers_are_nobody_unless_a_group_or_everyone_is_chosen() {
    let config = statuspage_with(&[]).unwrap();
    let statuspage = config.statuspage.as_ref().unwrap();
    assert_eq!(statuspage.publishers(), Publishers::Nobody);
    let warning = config
        .warnings()
        .into_iter()
        .find(|w| w.contains("nobody can create or update Statuspage incidents"))
        .expect("a warning at start");
    assert!(
        warning.contains("JANUS_STATUSPAGE__ALLOWED_GROUP")
            && warning.contains("JANUS_STATUSPAGE__ALLOW_EVERYONE"),
        "{warning}"
    );

    let config = statuspage_with(&[("JANUS_STATUSPAGE__ALLOW_EVERYONE", "yes")]).unwrap();
    assert_eq!(
        config.statuspage.as_ref().unwrap().publishers(),
        Publishers::Everyone
    );
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());

    let config = statuspage_with(&[("JANUS_STATUSPAGE__ALLOWED_GROUP", "@comms")]).unwrap();
    assert_eq!(
        config.statuspage.as_ref().unwrap().publishers(),
        Publishers::Group("comms")
    );
}

#[test]
fn a_statuspage_group_and_allow_everyone_together_are_refused_naming_both() {
    assert_eq!(
        load_err(&[
            ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
            ("STATUSPAGE_API_KEY", "k"),
            ("STATUSPAGE_PAGE_ID", "p"),
            ("JANUS_STATUSPAGE__ALLOWED_GROUP", "comms"),
            ("JANUS_STATUSPAGE__ALLOW_EVERYONE", "true"),
        ]),
        "conflicting settings: `statuspage.allowed_group` (from environment variable \
         JANUS_STATUSPAGE__ALLOWED_GROUP) and `statuspage.allow_everyone` (from environment \
         variable JANUS_STATUSPAGE__ALLOW_EVERYONE) are both set; keep the group to let only \
         its members publish, or allow_everyone to let anyone, not both"
    );
    // `false` is not a choice of everyone: the group alone applies.
    let config = statuspage_with(&[
        ("JANUS_STATUSPAGE__ALLOWED_GROUP", "comms"),
        ("JANUS_STATUSPAGE__ALLOW_EVERYONE", "false"),
    ])
    .unwrap();
    assert_eq!(
        config.statuspage.unwrap().publishers(),
        Publishers::Group("comms")
    );
}

#[test]
fn the_timeline_emoji_defaults_to_pushpin_and_may_not_be_the_react_emoji() {
    assert_eq!(load(&[]).unwrap().timeline_emoji, "pushpin");
    let config = load(&[("JANUS_TIMELINE__EMOJI", ":memo:")]).unwrap();
    assert_eq!(config.timeline_emoji, "memo", "colons optional");
    let err = load_err(&[
        ("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "true"),
        ("INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME", "pushpin"),
    ]);
    assert!(err.contains("timeline.emoji"), "{err}");
    assert!(err.contains("react.emoji"), "{err}");
    let err = load_err(&[("JANUS_TIMELINE__EMOJI", "two words")]);
    assert!(err.contains("timeline.emoji"), "{err}");
}

// --- statuspage.follow_incident ---------------------------------------------------------

use crate::statuspage::IncidentStatus;

/// [`statuspage_with`], anyone may publish, and following on.
fn following(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut env = vec![
        ("JANUS_STATUSPAGE__ALLOW_EVERYONE", "true"),
        ("JANUS_STATUSPAGE__FOLLOW_INCIDENT", "true"),
    ];
    env.extend_from_slice(extra);
    statuspage_with(&env)
}

fn policy(config: &Config) -> &crate::statuspage::FollowPolicy {
    config.statuspage.as_ref().unwrap().follow.as_ref().unwrap()
}

#[test]
fn following_is_off_by_default_and_maps_each_status_to_its_namesake_when_on() {
    let config = statuspage_with(&[("JANUS_STATUSPAGE__ALLOW_EVERYONE", "true")]).unwrap();
    assert!(config.statuspage.as_ref().unwrap().follow.is_none());

    let config = following(&[]).unwrap();
    let policy = policy(&config);
    for status in IncidentStatus::ALL {
        assert_eq!(policy.target(status.as_str()), Some(*status));
    }
    assert_eq!(
        policy.message(
            Some(IncidentStatus::Investigating),
            IncidentStatus::Identified
        ),
        "The issue has been identified and a fix is being worked on."
    );
    assert_eq!(
        policy.message(
            Some(IncidentStatus::Resolved),
            IncidentStatus::Investigating
        ),
        "We are looking into this issue again.",
        "a resolved Statuspage incident going back says it is reopened"
    );
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

#[test]
fn the_status_map_overrides_a_status_and_custom_statuses_map_by_position_of_resolved_only() {
    let config = following(&[
        (
            "JANUS_INCIDENT__STATUSES",
            "triage,investigating,fixing,closed",
        ),
        ("JANUS_STATUSPAGE__STATUS_MAP__FIXING", "identified"),
    ])
    .unwrap();
    let policy = policy(&config);
    assert_eq!(policy.target("triage"), None, "unmapped: left alone");
    assert_eq!(
        policy.target("investigating"),
        Some(IncidentStatus::Investigating)
    );
    assert_eq!(policy.target("fixing"), Some(IncidentStatus::Identified));
    assert_eq!(
        policy.target("closed"),
        Some(IncidentStatus::Resolved),
        "the resolved status resolves, whatever its name"
    );
    let warning = config
        .warnings()
        .into_iter()
        .find(|w| w.contains("statuspage.follow_incident"))
        .expect("a warning naming the statuses left alone");
    assert!(
        warning.contains("triage") && !warning.contains("fixing"),
        "{warning}"
    );
}

#[test]
fn a_status_map_entry_for_a_status_that_is_not_configured_names_the_key_and_its_source() {
    assert_eq!(
        following(&[("JANUS_STATUSPAGE__STATUS_MAP__FIXING", "identified")])
            .unwrap_err()
            .to_string(),
        "invalid value for `statuspage.status_map.fixing` (from environment variable \
         JANUS_STATUSPAGE__STATUS_MAP__FIXING): `fixing` is not a status of `incident.statuses`; \
         expected one of investigating, identified, monitoring, resolved"
    );
}

#[test]
fn a_status_map_value_that_is_not_a_statuspage_status_is_refused() {
    let error = toml_err(
        "[statuspage]\nenabled = true\napi_key = \"k\"\npage_id = \"p\"\nallow_everyone = true\n\
         follow_incident = true\n[statuspage.status_map]\nmonitoring = \"watching\"\n",
        &[],
    );
    assert_eq!(
        error,
        "invalid value for `statuspage.status_map.monitoring` (from TOML file FILE): `watching` \
         is not a Statuspage incident status; expected investigating, identified, monitoring or \
         resolved"
    );
}

#[test]
fn only_the_resolved_status_may_resolve_the_statuspage_incident() {
    let error = following(&[("JANUS_STATUSPAGE__STATUS_MAP__MONITORING", "resolved")])
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("invalid value for `statuspage.status_map` (from environment variable"),
        "{error}"
    );
    assert!(error.contains("`monitoring` is an open status"), "{error}");

    let error = following(&[("JANUS_STATUSPAGE__STATUS_MAP__RESOLVED", "monitoring")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`statuspage.status_map.resolved`")
            && error.contains("can only map to `resolved`"),
        "{error}"
    );

    // A custom list where an open status is called `resolved` is ambiguous
    // until that status is mapped explicitly.
    let error = following(&[("JANUS_INCIDENT__STATUSES", "investigating,resolved,closed")])
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("invalid value for `incident.statuses` (from environment variable JANUS_INCIDENT__STATUSES)"),
        "{error}"
    );
    assert!(
        error.contains("by its name it would map to `resolved`"),
        "{error}"
    );
    let config = following(&[
        ("JANUS_INCIDENT__STATUSES", "investigating,resolved,closed"),
        ("JANUS_STATUSPAGE__STATUS_MAP__RESOLVED", "monitoring"),
    ])
    .unwrap();
    assert_eq!(
        policy(&config).target("resolved"),
        Some(IncidentStatus::Monitoring)
    );
}

#[test]
fn follow_messages_can_be_changed_but_not_blank_or_unknown() {
    let config = following(&[(
        "JANUS_STATUSPAGE__FOLLOW_MESSAGES__RESOLVED",
        "All systems are back.",
    )])
    .unwrap();
    assert_eq!(
        policy(&config).message(Some(IncidentStatus::Monitoring), IncidentStatus::Resolved),
        "All systems are back."
    );
    let error = following(&[("JANUS_STATUSPAGE__FOLLOW_MESSAGES__FIXED", "Done.")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`statuspage.follow_messages.fixed`")
            && error.contains("investigating, identified, monitoring, resolved, reopened"),
        "{error}"
    );
    let error = following(&[("JANUS_STATUSPAGE__FOLLOW_MESSAGES__IDENTIFIED", "  ")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`statuspage.follow_messages.identified`"),
        "{error}"
    );
}

#[test]
fn following_without_the_statuspage_integration_is_accepted_with_a_warning() {
    let config = load(&[("JANUS_STATUSPAGE__FOLLOW_INCIDENT", "true")]).unwrap();
    assert!(config.statuspage.is_none());
    let warning = config
        .warnings()
        .into_iter()
        .find(|w| w.contains("statuspage.follow_incident"))
        .expect("a warning");
    assert!(
        warning.contains("JANUS_STATUSPAGE__FOLLOW_INCIDENT") && warning.contains("does nothing"),
        "{warning}"
    );
}
