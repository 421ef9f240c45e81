//! The Argo CD health check (`charts/pg-gitops/files/argocd-health.lua`) run as Argo CD runs
//! it, in a real Lua 5.1: Debian's `lua5.1` (the reference interpreter of the language
//! gopher-lua implements; `scripts/apt-packages` installs it).
//!
//! What Argo CD does (argo-cd `util/lua/lua.go`, `runLua` and `ExecuteHealthLua`): the object
//! becomes the global `obj` (JSON objects and arrays as tables, `null` as nil, numbers as Lua
//! numbers); a script from argocd-cm runs with only the package, base and table libraries and
//! a safe `os` (`time`, `date`); it must return a table, read as `{status, message}`; a status
//! that is not one of Argo CD's health codes becomes `Unknown`. The sandbox below gives the
//! script exactly those globals, and takes the string metatable away, so a script that would
//! fail in Argo CD for want of the string library fails here too.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The health check, as shipped (the chart's file; examples and the chart's ConfigMap carry
/// copies that tests compare with it).
pub const HEALTH_LUA: &str = "charts/pg-gitops/files/argocd-health.lua";

/// The health codes Argo CD accepts from a script (`isValidHealthStatusCode`).
const CODES: [&str; 6] = [
    "Unknown",
    "Progressing",
    "Suspended",
    "Healthy",
    "Degraded",
    "Missing",
];

/// What Argo CD would show for an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub message: String,
}

/// Runs the shipped health check on `object`.
pub fn health(object: &Value) -> Health {
    health_of(&crate::repo_root().join(HEALTH_LUA), object)
}

/// Runs the health script at `script` on `object`; panics with Lua's error if the script
/// fails (Argo CD would then show the resource's health as an error).
pub fn health_of(script: &std::path::Path, object: &Value) -> Health {
    let driver = format!("local obj = {}\n{DRIVER}", to_lua(object));
    let mut child = Command::new("lua5.1")
        .arg("-")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("running lua5.1: {e} (install Debian's lua5.1; scripts/test does)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(driver.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "the health script failed on {object:#}: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, message) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    if !CODES.contains(&status) {
        return Health {
            status: "Unknown".into(),
            message: "Lua returned an invalid health status".into(),
        };
    }
    Health {
        status: status.into(),
        message: message.into(),
    }
}

/// Loads the script (its path is `arg[1]`) into Argo CD's globals and prints `status`, a
/// newline, and `message`. `obj` is defined above it.
const DRIVER: &str = r#"
local chunk, err = loadfile(arg[1])
if not chunk then io.stderr:write(err) os.exit(3) end
local env = {obj = obj, table = table, os = {time = os.time, date = os.date}}
for _, name in ipairs({"assert", "error", "ipairs", "next", "pairs", "pcall", "print",
    "rawequal", "rawget", "rawset", "select", "getmetatable", "setmetatable", "tonumber",
    "tostring", "type", "unpack", "xpcall", "require", "_VERSION"}) do
  env[name] = _G[name]
end
env._G = env
local write, stderr, exit = io.write, io.stderr, os.exit
-- Without Argo CD's string library, ("text"):sub(1) must fail as it does there.
getmetatable("").__index = nil
setfenv(chunk, env)
local ok, hs = pcall(chunk)
if not ok then stderr:write(tostring(hs)) exit(2) end
if type(hs) ~= "table" then stderr:write("expect table output from Lua script, not " .. type(hs)) exit(2) end
write(tostring(hs.status), "\n")
if hs.message ~= nil then write(tostring(hs.message)) end
"#;

/// A JSON value as a Lua table constructor (`null` becomes nil, as Argo CD decodes it).
pub fn to_lua(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(to_lua).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", quote(k), to_lua(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// A Lua string literal: bytes other than printable ASCII as decimal escapes, which Lua 5.1
/// reads back byte for byte (UTF-8 included).
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\{byte:03}")),
        }
    }
    out.push('"');
    out
}
