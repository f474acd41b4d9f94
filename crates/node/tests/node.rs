//! Integration tests of the node library against real parts.
//!
//! Module map:
//! - `wallet`: keys in the real Secret Service (gnome-keyring in a dbus session; `make test` runs
//!   the suite under scripts/with-keyring.sh). Skips without one unless GRIDMINT_REQUIRE_KEYRING=1.

mod wallet {
    use std::process::Command;

    use gridmint_node::wallet::{ExportConfirmation, KEYRING_SERVICE, Wallet, WalletError};

    /// anvil's first account: the standard test mnemonic.
    const TEST_PHRASE: &str = "test test test test test test test test test test test junk";

    fn keyring() -> Option<()> {
        let probe = Wallet::named(format!("probe-{}", std::process::id()));
        match probe.address() {
            Err(WalletError::Keyring { message }) => {
                assert!(
                    std::env::var("GRIDMINT_REQUIRE_KEYRING").as_deref() != Ok("1"),
                    "GRIDMINT_REQUIRE_KEYRING=1 but: {message}"
                );
                eprintln!("SKIPPED: no Secret Service ({message})");
                None
            }
            _ => Some(()),
        }
    }

    fn slot(name: &str) -> Wallet {
        let w = Wallet::named(format!("test-{name}-{}", std::process::id()));
        w.delete().expect("a clean slot");
        w
    }

    #[test]
    fn imported_mnemonic_lives_in_the_secret_service_and_derives_the_known_address() {
        if keyring().is_none() {
            return;
        }
        let w = slot("import");
        let address = w.import(&format!("  {}  ", TEST_PHRASE.to_uppercase())).expect("import");
        assert_eq!(
            address.to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "m/44'/60'/0'/0/0 of the test mnemonic"
        );
        assert_eq!(w.address().expect("address"), address, "read back from the keyring");
        // The real Secret Service holds it: ask it directly.
        let out = Command::new("secret-tool")
            .args(["lookup", "service", KEYRING_SERVICE, "username", w.account()])
            .output()
            .expect("secret-tool runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            TEST_PHRASE,
            "the Secret Service returns the normalized phrase"
        );
        match w.import(TEST_PHRASE) {
            Err(WalletError::AlreadyExists { address: a, .. }) => assert_eq!(a, address),
            other => panic!("a second import must not overwrite the key: {other:?}"),
        }
        assert!(matches!(w.export_mnemonic(ExportConfirmation::NotConfirmed), Err(WalletError::NotConfirmed)));
        assert_eq!(w.export_mnemonic(ExportConfirmation::Confirmed).expect("export").as_str(), TEST_PHRASE);
        w.delete().expect("delete");
        assert!(matches!(w.address(), Err(WalletError::NoWallet { .. })), "gone after delete");
    }

    #[test]
    fn a_new_wallet_has_twelve_words_that_derive_its_address() {
        if keyring().is_none() {
            return;
        }
        let (a, b) = (slot("new-a"), slot("new-b"));
        let address = a.create().expect("create");
        let phrase = a.export_mnemonic(ExportConfirmation::Confirmed).expect("export");
        assert_eq!(phrase.split(' ').count(), 12, "12 words");
        assert_eq!(b.import(&phrase).expect("import elsewhere"), address, "the backup restores the same key");
        assert!(matches!(b.create(), Err(WalletError::AlreadyExists { .. })), "create never overwrites");
        assert_ne!(slot("new-c").create().expect("another"), address, "each new wallet is a new key");
        for w in [a, b, Wallet::named(format!("test-new-c-{}", std::process::id()))] {
            w.delete().expect("clean up");
        }
    }

    #[test]
    fn an_invalid_mnemonic_is_refused_without_echoing_it() {
        if keyring().is_none() {
            return;
        }
        let w = slot("invalid");
        let secretish = "test test test test test test test test test test test test";
        let err = w.import(secretish).expect_err("bad checksum").to_string();
        assert!(err.starts_with("that is not a valid BIP-39 mnemonic"), "{err}");
        assert!(!err.contains("test test"), "the error must not repeat the words: {err}");
        assert!(matches!(w.address(), Err(WalletError::NoWallet { .. })), "nothing stored");
        let err = w
            .import("test test test test test test test test test test test gridmint")
            .expect_err("unknown word")
            .to_string();
        assert!(err.contains("word 12 is not in the BIP-39 English word list"), "{err}");
        let err = w.import("test test test").expect_err("too short").to_string();
        assert!(err.contains("it has 3 words"), "{err}");
    }
}
