//! The node's key: a BIP-39 mnemonic kept only in the OS keyring (the Secret Service on Linux,
//! Keychain on macOS, Credential Manager on Windows). Never written to disk, never logged, never
//! sent to the UI; the mnemonic leaves the keyring only through [`Wallet::export_mnemonic`]
//! with an explicit confirmation. The signing key is derived at m/44'/60'/0'/0/0.

use alloy::{
    primitives::Address,
    signers::local::{
        MnemonicBuilder, PrivateKeySigner,
        coins_bip39::{English, Mnemonic, Wordlist},
    },
};
use zeroize::Zeroizing;

use crate::Paths;

/// The keyring service under which every Gridmint key is stored.
pub const KEYRING_SERVICE: &str = "gridmint";

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("no wallet yet for {account}: create one (`gridmint wallet new`) or import a mnemonic")]
    NoWallet { account: String },
    #[error("a wallet already exists for {account} ({address}); it is never overwritten")]
    AlreadyExists { account: String, address: Address },
    #[error("that is not a valid BIP-39 mnemonic: {reason}")]
    InvalidMnemonic { reason: String },
    #[error(
        "the OS keyring failed ({message}); on Linux a Secret Service must be running (gnome-keyring, KeePassXC, KWallet)"
    )]
    Keyring { message: String },
    #[error("exporting the mnemonic needs an explicit confirmation")]
    NotConfirmed,
}

/// The caller's explicit "yes, show me the secret words".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportConfirmation {
    Confirmed,
    NotConfirmed,
}

/// A wallet slot in the keyring.
#[derive(Debug, Clone)]
pub struct Wallet {
    account: String,
}

fn keyring_err(e: keyring::Error) -> WalletError {
    WalletError::Keyring { message: e.to_string() }
}

impl Wallet {
    /// The wallet of the node whose settings live in `paths.config` (several nodes on one
    /// machine each have their own). Named after the config folder, which stays put when the
    /// owner moves the data folder.
    pub fn for_paths(paths: &Paths) -> Self {
        Self::named(format!("node:{}", paths.config.display()))
    }

    pub fn named(account: impl Into<String>) -> Self {
        Self { account: account.into() }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    fn entry(&self) -> Result<keyring::Entry, WalletError> {
        keyring::Entry::new(KEYRING_SERVICE, &self.account).map_err(keyring_err)
    }

    fn stored_phrase(&self) -> Result<Option<Zeroizing<String>>, WalletError> {
        match self.entry()?.get_password() {
            Ok(p) => Ok(Some(Zeroizing::new(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err(e)),
        }
    }

    fn derive(phrase: &str) -> Result<PrivateKeySigner, WalletError> {
        MnemonicBuilder::<English>::default().phrase(phrase).index(0).and_then(|b| b.build()).map_err(|_| {
            WalletError::InvalidMnemonic { reason: "the stored mnemonic does not derive a key".to_owned() }
        })
    }

    fn store(&self, phrase: &str) -> Result<Address, WalletError> {
        if let Some(existing) = self.stored_phrase()? {
            return Err(WalletError::AlreadyExists {
                account: self.account.clone(),
                address: Self::derive(&existing)?.address(),
            });
        }
        let address = Self::derive(phrase)?.address();
        self.entry()?.set_password(phrase).map_err(keyring_err)?;
        tracing::info!(%address, account = %self.account, "wallet stored in the OS keyring");
        Ok(address)
    }

    /// Generates a new 12-word mnemonic from the OS's randomness and stores it.
    pub fn create(&self) -> Result<Address, WalletError> {
        let mnemonic = Mnemonic::<English>::new_with_count(&mut rand::rngs::OsRng, 12)
            .map_err(|e| WalletError::InvalidMnemonic { reason: e.to_string() })?;
        let phrase = Zeroizing::new(mnemonic.to_phrase());
        self.store(&phrase)
    }

    /// Imports an existing mnemonic (12 to 24 English words).
    pub fn import(&self, phrase: &str) -> Result<Address, WalletError> {
        let normalized = Zeroizing::new(phrase.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase());
        // The library's own errors quote the phrase: say what is wrong without repeating a word.
        let words: Vec<&str> = normalized.split(' ').collect();
        if ![12, 15, 18, 21, 24].contains(&words.len()) {
            return Err(WalletError::InvalidMnemonic {
                reason: format!("it has {} words; a mnemonic has 12, 15, 18, 21 or 24", words.len()),
            });
        }
        if let Some(i) = words.iter().position(|w| English::get_index(w).is_err()) {
            return Err(WalletError::InvalidMnemonic {
                reason: format!("word {} is not in the BIP-39 English word list", i + 1),
            });
        }
        if Mnemonic::<English>::new_from_phrase(&normalized).is_err() {
            return Err(WalletError::InvalidMnemonic {
                reason: "the checksum does not match: a word is wrong or out of order".to_owned(),
            });
        }
        self.store(&normalized)
    }

    pub fn address(&self) -> Result<Address, WalletError> {
        Ok(self.signer()?.address())
    }

    /// The key, for signing transactions.
    pub fn signer(&self) -> Result<PrivateKeySigner, WalletError> {
        let phrase = self.stored_phrase()?.ok_or_else(|| WalletError::NoWallet { account: self.account.clone() })?;
        Self::derive(&phrase)
    }

    /// The mnemonic, for a backup. Only with an explicit confirmation.
    pub fn export_mnemonic(&self, confirmation: ExportConfirmation) -> Result<Zeroizing<String>, WalletError> {
        if confirmation != ExportConfirmation::Confirmed {
            return Err(WalletError::NotConfirmed);
        }
        tracing::warn!(account = %self.account, "mnemonic exported on request");
        self.stored_phrase()?.ok_or_else(|| WalletError::NoWallet { account: self.account.clone() })
    }

    /// Removes the key from the keyring. Funds stay on chain; without a backup they are lost.
    pub fn delete(&self) -> Result<(), WalletError> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_err(e)),
        }
    }
}
