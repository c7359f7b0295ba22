//! Process/application group expressions (`%{GLOBAL}`, `%{SERVER}`,
//! `%{RESOURCE}`, `%{ENV:NAME}`, literals) parsed from configuration or
//! returned by a dispatch script, then expanded against request values an
//! outside client controls (Host header, URI, path info).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::config::values::{
    expand_callable, parse_on_off, parse_seconds, resource_script_name, GroupContext, GroupSpec,
};

#[derive(Arbitrary, Debug)]
struct Input {
    token: String,
    server_name: String,
    request_host: String,
    server_port: u16,
    uri: String,
    path_info: String,
    env_value: Option<String>,
}

impl GroupContext for Input {
    fn server_name(&self) -> String {
        self.server_name.clone()
    }
    fn request_host(&self) -> String {
        self.request_host.clone()
    }
    fn server_port(&self) -> u16 {
        self.server_port
    }
    fn uri_and_path_info(&self) -> (String, String) {
        (self.uri.clone(), self.path_info.clone())
    }
    fn env(&self, _name: &str) -> Option<String> {
        self.env_value.clone()
    }
}

fuzz_target!(|input: Input| {
    if let Ok(spec) = GroupSpec::parse("WSGIProcessGroup", &input.token) {
        let _ = spec.expand(&input);
    }
    let _ = GroupSpec::from_runtime(&input.token).expand(&input);
    let _ = resource_script_name(&input.uri, &input.path_info);
    let _ = expand_callable(Some(&input.token), &|_| input.env_value.clone());
    let _ = parse_on_off("WSGIChunkedRequest", &input.token);
    let _ = parse_seconds("WSGISwitchInterval", &input.token, 0.0, 86_400.0, "seconds");
});
