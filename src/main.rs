#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = twofold::cli::Cli::from_args();
    match twofold::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("twofold: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
