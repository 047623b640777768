//! `agentkeys`: the registration server, enrollment client and agent management tool.

use std::process::ExitCode;

const USAGE: &str = "usage: agentkeys <command>\n\ncommands:\n  serve      run the registration server (not yet implemented)\n  keygen     print a new random agent key\n  version    print the version\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            eprintln!("agentkeys serve: not yet implemented");
            ExitCode::from(2)
        }
        Some("keygen") => match agentkeys::GeneratedKey::from_os() {
            Ok(key) => {
                println!("{}", key.as_str());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("agentkeys keygen: no entropy from the operating system: {e}");
                ExitCode::FAILURE
            }
        },
        Some("version" | "--version" | "-V") => {
            println!("agentkeys {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
