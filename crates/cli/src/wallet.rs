//! `gridmint wallet`: the node's key, kept only in the OS keyring.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use gridmint_node::{
    Node,
    wallet::{ExportConfirmation, Wallet},
};

#[derive(Debug, clap::Subcommand)]
pub enum WalletCommand {
    /// Create a new wallet (a 12-word mnemonic) in the OS keyring.
    New,
    /// Import a mnemonic, read from standard input (never from the command line).
    Import,
    /// Print the wallet's address.
    Address,
    /// Print the mnemonic. Anyone who sees it controls the funds.
    Export {
        /// Required: you understand that the words give full control of the wallet.
        #[arg(long)]
        yes_show_secret_words: bool,
    },
}

pub fn run(node: &Node, command: WalletCommand, json: bool) -> anyhow::Result<()> {
    let wallet = Wallet::for_paths(node.paths());
    let address = match command {
        WalletCommand::New => wallet.create()?,
        WalletCommand::Import => {
            if std::io::stdin().is_terminal() {
                eprintln!("Type or paste the mnemonic, then press Enter and Ctrl-D:");
            }
            let mut phrase = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_to_string(&mut phrase).context("reading the mnemonic from standard input")?;
            wallet.import(&phrase)?
        }
        WalletCommand::Address => wallet.address()?,
        WalletCommand::Export { yes_show_secret_words } => {
            let confirmation =
                if yes_show_secret_words { ExportConfirmation::Confirmed } else { ExportConfirmation::NotConfirmed };
            let phrase = wallet.export_mnemonic(confirmation).context(
                "pass --yes-show-secret-words to print the mnemonic; anyone who sees it controls the wallet",
            )?;
            println!("{}", phrase.as_str());
            return Ok(());
        }
    };
    if json {
        println!("{}", serde_json::json!({ "address": address.to_string() }));
    } else {
        println!("{address}");
    }
    Ok(())
}
