//! The node's wallet as the app sees it. The key lives only in the OS keyring; the recovery words
//! cross to the UI only on an explicit, confirmed request.

use serde::{Deserialize, Serialize};

/// Request of [`crate::commands::WalletStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletStatusRequest {}

/// Request of [`crate::commands::CreateWallet`]: a new BIP-39 mnemonic, made and kept in the keyring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateWalletRequest {}

/// Request of [`crate::commands::ImportWallet`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportWalletRequest {
    pub phrase: String,
}

/// Request of [`crate::commands::ExportMnemonic`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMnemonicRequest {
    /// The user confirmed that whoever sees the words controls the funds.
    pub confirmed: bool,
}

/// The wallet: its address, or none yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletStatus {
    pub address: Option<String>,
}

/// The recovery words, for a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryWords {
    pub words: String,
}
