//! `deploy/kubernetes`, checked against the binary without a cluster or kubectl: every file
//! parses and every file a kustomization names is there, and what the manifests tell Janus
//! (environment variable names and values, the secret files, the state volume, the probe
//! port and path) goes through Janus's own configuration loader and health listener.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;
use serde_json::Value;

use janus::config::{Config, reads_variable};

use crate::support::harness::TestApp;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes");

fn root() -> PathBuf {
    PathBuf::from(ROOT)
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            found.push(path);
        }
    }
}

fn list<'v>(value: &'v Value, key: &str) -> Vec<&'v Value> {
    value[key]
        .as_array()
        .map(|items| items.iter().collect())
        .unwrap_or_default()
}

fn text<'v>(value: &'v Value, what: &str) -> &'v str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} should be text: {value}"))
}

fn base() -> Value {
    yaml(&root().join("base/kustomization.yaml"))
}

fn deployment() -> Value {
    yaml(&root().join("base/deployment.yaml"))
}

fn overlay() -> Value {
    yaml(&root().join("overlays/postgres/kustomization.yaml"))
}

fn overlay_deployment() -> Value {
    yaml(&root().join("overlays/postgres/deployment.yaml"))
}

fn container(deployment: &Value) -> &Value {
    let containers = list(&deployment["spec"]["template"]["spec"], "containers");
    containers
        .into_iter()
        .find(|c| c["name"] == "janus")
        .expect("a container named janus")
}

/// The generator named `name` of `kind` (`configMapGenerator`, `secretGenerator`).
fn generator<'v>(kustomization: &'v Value, kind: &str, name: &str) -> Option<&'v Value> {
    list(kustomization, kind)
        .into_iter()
        .find(|g| g["name"] == name)
}

/// The files a secret generator puts in its Secret: key → the file kustomize reads.
fn secret_keys(generator: &Value) -> BTreeMap<String, String> {
    list(generator, "files")
        .into_iter()
        .map(|entry| {
            let entry = text(entry, "a generator file");
            let (key, file) = entry.split_once('=').unwrap_or((entry, entry));
            let key = Path::new(key).file_name().unwrap().to_string_lossy();
            (key.into_owned(), file.to_owned())
        })
        .collect()
}

/// What a secret file would hold, by the variable naming it: a value Janus accepts.
fn secret_for(variable: &str) -> &'static str {
    match variable {
        "SLACK_APP_TOKEN_FILE" => "xapp-1-A0-kubernetes",
        "SLACK_BOT_TOKEN_FILE" => "xoxb-kubernetes",
        "DATABASE_URL_FILE" => "postgres://janus:pw@db.internal:5432/janus",
        other => panic!("no test secret for {other}"),
    }
}

/// The environment the container gets: the ConfigMap's literals, then its own `env`; each
/// `…_FILE` path checked to lie in a mounted Secret whose generator has that key, and
/// replaced by a temporary file holding a value of the right kind.
fn container_env(
    deployment: &Value,
    container: &Value,
    kustomizations: &[&Value],
    secrets_dir: &Path,
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for source in list(container, "envFrom") {
        let name = text(&source["configMapRef"]["name"], "configMapRef.name");
        let generator = kustomizations
            .iter()
            .find_map(|k| generator(k, "configMapGenerator", name))
            .unwrap_or_else(|| panic!("no configMapGenerator named {name}"));
        for literal in list(generator, "literals") {
            let (var, value) = text(literal, "a literal")
                .split_once('=')
                .expect("NAME=value");
            env.push((var.to_owned(), value.to_owned()));
        }
    }
    let volumes = list(&deployment["spec"]["template"]["spec"], "volumes");
    for var in list(container, "env") {
        let name = text(&var["name"], "env name").to_owned();
        let value = text(&var["value"], "env value").to_owned();
        assert!(
            reads_variable(&name),
            "{name} is not a variable Janus reads"
        );
        if !name.ends_with("_FILE") {
            env.push((name, value));
            continue;
        }
        let path = Path::new(&value);
        let mount = list(container, "volumeMounts")
            .into_iter()
            .find(|m| Path::new(text(&m["mountPath"], "mountPath")) == path.parent().unwrap())
            .unwrap_or_else(|| panic!("{name}={value}: no volume is mounted at its folder"));
        let volume = volumes
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap_or_else(|| panic!("no volume {} for {name}", mount["name"]));
        let secret = text(&volume["secret"]["secretName"], "a secret volume");
        let generator = kustomizations
            .iter()
            .find_map(|k| generator(k, "secretGenerator", secret))
            .unwrap_or_else(|| panic!("{name}: no secretGenerator named {secret}"));
        let key = path.file_name().unwrap().to_string_lossy();
        assert!(
            secret_keys(generator).contains_key(key.as_ref()),
            "{name}={value}: the Secret {secret} has no key {key}"
        );
        let file = secrets_dir.join(key.as_ref());
        std::fs::write(&file, secret_for(&name)).unwrap();
        env.push((name, file.display().to_string()));
    }
    env
}

fn port_of(container: &Value, probe: &Value) -> u16 {
    let port = &probe["httpGet"]["port"];
    let number = match port.as_str() {
        Some(name) => list(container, "ports")
            .into_iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no port named {name}"))["containerPort"]
            .clone(),
        None => port.clone(),
    };
    number.as_u64().expect("a port number") as u16
}

fn probes(container: &Value) -> Vec<&Value> {
    ["startupProbe", "livenessProbe", "readinessProbe"]
        .iter()
        .map(|key| &container[*key])
        .filter(|probe| !probe.is_null())
        .collect()
}

/// The Containerfile's `NAME value` instruction argument, e.g. `USER` → `65532:65532`.
fn containerfile(instruction: &str) -> String {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Containerfile")).unwrap();
    text.lines()
        .rev()
        .find_map(|line| line.strip_prefix(&format!("{instruction} ")))
        .unwrap_or_else(|| panic!("no {instruction} in the Containerfile"))
        .trim()
        .to_owned()
}

#[test]
fn every_manifest_parses_and_every_file_a_kustomization_names_is_there() {
    let mut files = Vec::new();
    yaml_files(&root(), &mut files);
    assert!(files.len() >= 6, "{files:?}");
    let mut kustomizations = 0;
    for path in &files {
        let doc = yaml(path);
        if path.file_name().unwrap() != "kustomization.yaml" {
            assert!(doc["apiVersion"].is_string(), "{}", path.display());
            assert!(doc["kind"].is_string(), "{}", path.display());
            continue;
        }
        kustomizations += 1;
        let dir = path.parent().unwrap();
        for resource in list(&doc, "resources") {
            let target = dir.join(text(resource, "a resource"));
            assert!(
                target.is_file() || target.join("kustomization.yaml").is_file(),
                "{}: resource {} is missing",
                path.display(),
                target.display()
            );
        }
        for patch in list(&doc, "patches") {
            if let Some(file) = patch["path"].as_str() {
                assert!(dir.join(file).is_file(), "{}: patch {file}", path.display());
            } else {
                assert!(patch["patch"].is_string(), "{}: {patch}", path.display());
            }
        }
        // Secret files are the operator's to write, and never committed: their folder is
        // there with a .gitignore that keeps everything in it out of git.
        for generator in list(&doc, "secretGenerator") {
            for file in secret_keys(generator).values() {
                let folder = dir.join(file).parent().unwrap().to_owned();
                let ignore = std::fs::read_to_string(folder.join(".gitignore"))
                    .unwrap_or_else(|_| panic!("{}: no .gitignore", folder.display()));
                assert!(ignore.lines().any(|l| l.trim() == "*"), "{ignore}");
            }
        }
    }
    assert_eq!(
        kustomizations, 3,
        "the entry point, the base and the overlay"
    );
    let entry = yaml(&root().join("kustomization.yaml"));
    assert_eq!(list(&entry, "resources"), [&Value::from("base")]);
}

#[test]
fn the_base_runs_one_replica_on_sqlite_in_the_volume_it_mounts() {
    let deployment = deployment();
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"]["type"], "Recreate",
        "two pods must never share the SQLite file"
    );
    let janus = container(&deployment);
    let secrets = tempfile::tempdir().unwrap();
    let env = container_env(&deployment, janus, &[&base()], secrets.path());
    for (name, _) in &env {
        assert!(reads_variable(name), "{name} is not a variable Janus reads");
    }
    // JANUS_* names are checked here: an unknown key is an error.
    let config = Config::load_from(None, env.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.database.is_sqlite());
    assert_eq!(config.slack.bot_token.expose_secret(), "xoxb-kubernetes");

    // The database file lies in the volume that holds the claim.
    let url = config.database.url.expose_secret().to_owned();
    let file = PathBuf::from(url.strip_prefix("sqlite://").expect("a SQLite URL"));
    let state = list(&spec["template"]["spec"], "volumes")
        .into_iter()
        .find(|v| v["persistentVolumeClaim"].is_object())
        .expect("a volume from the claim");
    let claim = yaml(&root().join("base/pvc.yaml"));
    assert_eq!(
        state["persistentVolumeClaim"]["claimName"],
        claim["metadata"]["name"]
    );
    let mount = list(janus, "volumeMounts")
        .into_iter()
        .find(|m| m["name"] == state["name"])
        .expect("the claim is mounted");
    assert_eq!(
        file.parent().unwrap(),
        Path::new(text(&mount["mountPath"], "mountPath"))
    );
    // …which is where the image keeps its state too.
    assert_eq!(
        containerfile("ENV"),
        format!("STATE_DIRECTORY={}", mount["mountPath"].as_str().unwrap())
    );
}

#[test]
fn the_probes_ask_the_port_janus_listens_on_from_every_interface() {
    let deployment = deployment();
    let janus = container(&deployment);
    let secrets = tempfile::tempdir().unwrap();
    let env = container_env(&deployment, janus, &[&base()], secrets.path());
    let config = Config::load_from(None, env).unwrap_or_else(|e| panic!("{e}"));
    let listen = config
        .health
        .expect("the manifests turn the health listener on")
        .listen;
    assert!(
        listen.ip().is_unspecified(),
        "the kubelet probes the pod's address, not loopback: {listen}"
    );
    let probes = probes(janus);
    assert!(probes.len() >= 2, "liveness and readiness at least");
    for probe in probes {
        assert_eq!(port_of(janus, probe), listen.port(), "{probe}");
        assert_eq!(probe["httpGet"]["path"], "/healthz");
    }
    assert!(!janus["livenessProbe"].is_null());
    assert!(!janus["readinessProbe"].is_null());
}

#[tokio::test]
async fn the_probe_path_is_served_healthy_by_janus() {
    let deployment = deployment();
    let path = text(
        &container(&deployment)["readinessProbe"]["httpGet"]["path"],
        "the probe's path",
    )
    .to_owned();
    let app = TestApp::spawn_with(&[("JANUS_HEALTH__LISTEN", "0")]).await;
    let answer = crate::health::get(&app, &path).await;
    assert!(answer.body.contains("\"status\":\"ok\""), "{}", answer.body);
}

#[test]
fn the_pod_runs_as_the_images_user_without_privileges_on_a_read_only_root() {
    let deployment = deployment();
    let pod = &deployment["spec"]["template"]["spec"]["securityContext"];
    let user = containerfile("USER");
    let (uid, gid) = user.split_once(':').expect("USER uid:gid");
    assert_eq!(pod["runAsNonRoot"], true);
    assert_eq!(pod["runAsUser"].to_string(), uid);
    assert_eq!(pod["runAsGroup"].to_string(), gid);
    assert_eq!(pod["fsGroup"].to_string(), gid, "the volume is writable");
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault");
    let janus = container(&deployment);
    let own = &janus["securityContext"];
    assert_eq!(own["allowPrivilegeEscalation"], false);
    assert_eq!(own["readOnlyRootFilesystem"], true);
    assert_eq!(own["capabilities"]["drop"], serde_json::json!(["ALL"]));
    for limit in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                janus["resources"][limit][resource].is_string(),
                "resources.{limit}.{resource}"
            );
        }
    }
}

#[test]
fn the_postgres_overlay_runs_two_replicas_on_postgres_without_the_volume() {
    let patch = overlay_deployment();
    assert_eq!(patch["metadata"]["name"], deployment()["metadata"]["name"]);
    assert_eq!(patch["spec"]["replicas"], 2);
    assert_eq!(patch["spec"]["strategy"]["type"], "RollingUpdate");

    // The base container with the overlay's additions, as kustomize merges them by name.
    let mut merged = deployment();
    let base_janus = container(&merged).clone();
    let extra = container(&patch).clone();
    let mut janus = base_janus;
    for (key, merge_key) in [("env", "name"), ("volumeMounts", "mountPath")] {
        let mut items: Vec<Value> = list(&janus, key).into_iter().cloned().collect();
        for item in list(&extra, key) {
            if item["$patch"] == "delete" {
                items.retain(|kept| kept[merge_key] != item[merge_key]);
            } else {
                items.push(item.clone());
            }
        }
        janus[key] = Value::from(items);
    }
    let spec = &mut merged["spec"]["template"]["spec"];
    let mut volumes: Vec<Value> = list(spec, "volumes").into_iter().cloned().collect();
    for volume in list(&patch["spec"]["template"]["spec"], "volumes") {
        if volume["$patch"] == "delete" {
            volumes.retain(|kept| kept["name"] != volume["name"]);
        } else {
            volumes.push(volume.clone());
        }
    }
    spec["volumes"] = Value::from(volumes);
    assert!(
        list(spec, "volumes")
            .iter()
            .all(|v| v["persistentVolumeClaim"].is_null()),
        "no claim is mounted on PostgreSQL"
    );
    let overlay = overlay();
    let deletes_claim = list(&overlay, "patches").into_iter().any(|p| {
        p["patch"].as_str().is_some_and(|text| {
            text.contains("$patch: delete") && text.contains("kind: PersistentVolumeClaim")
        })
    });
    assert!(deletes_claim, "the overlay drops the claim");

    let secrets = tempfile::tempdir().unwrap();
    let env = container_env(&merged, &janus, &[&base(), &overlay], secrets.path());
    for (name, _) in &env {
        assert!(reads_variable(name), "{name} is not a variable Janus reads");
    }
    let config = Config::load_from(None, env).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.database.is_sqlite(), "{:?}", config.database);
}

#[test]
fn a_misspelt_variable_is_caught() {
    assert!(reads_variable("SLACK_BOT_TOKEN_FILE"));
    assert!(reads_variable("STATE_DIRECTORY"));
    assert!(!reads_variable("SLACK_BOT_TOKN_FILE"));
    let unknown = Config::load_from(
        None,
        [
            ("SLACK_APP_TOKEN", "xapp-1"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("JANUS_HEALTH__LISTN", "0.0.0.0:9187"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap_err();
    assert!(
        unknown.to_string().contains("unknown key `health.listn`"),
        "{unknown}"
    );
}
