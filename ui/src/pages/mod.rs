//! One module per page of the window (the header's tabs, and the first-run set-up), and
//! [`Page`], their names in the header.

pub mod buy;
pub mod dashboard;
pub mod hardware;
pub mod jobs;
pub mod onboarding;
pub mod settings;
pub mod wallet;

pub use buy::Buy;
pub use dashboard::Dashboard;
pub use hardware::Hardware;
pub use jobs::Jobs;
pub use onboarding::Onboarding;
pub use settings::Settings;
pub use wallet::Wallet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Dashboard,
    Buy,
    Jobs,
    Hardware,
    Wallet,
    Settings,
}

impl Page {
    pub const ALL: [Page; 6] = [Page::Dashboard, Page::Buy, Page::Jobs, Page::Hardware, Page::Wallet, Page::Settings];

    pub fn label(self) -> &'static str {
        match self {
            Page::Dashboard => "Dashboard",
            Page::Buy => "Buy compute",
            Page::Jobs => "Jobs",
            Page::Hardware => "Hardware",
            Page::Wallet => "Wallet",
            Page::Settings => "Settings",
        }
    }

    pub fn test_id(self) -> &'static str {
        match self {
            Page::Dashboard => "nav-dashboard",
            Page::Buy => "nav-buy",
            Page::Jobs => "nav-jobs",
            Page::Hardware => "nav-hardware",
            Page::Wallet => "nav-wallet",
            Page::Settings => "nav-settings",
        }
    }
}
