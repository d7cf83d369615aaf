//! Reading a config file (or text) into a validated [`Config`].

use std::path::Path;

use super::problem::{ConfigError, Problem};
use super::settings::Config;
use super::validate;

impl Config {
    /// Reads, validates and loads the data files of the config at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            problems: vec![Problem {
                key: String::new(),
                line: None,
                message: format!("cannot read: {e}"),
            }],
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        validate::validate(&text, base, origin)
    }

    /// Validates config text; relative paths are resolved against `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        validate::validate(text, base_dir, "<string>".to_string())
    }
}
