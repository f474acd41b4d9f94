//! The wallet page: the key in the OS keyring, its recovery words, the earning account and
//! where its withdrawals go.

use gridmint_protocol::{ApiError, ProviderStanding, wallet::WalletStatus};
use leptos::{prelude::*, task::spawn_local};

use crate::{components::ErrorBox, format::utc_label, ipc, live::Live};

/// Imports the typed recovery words into the keyring; the field is cleared once they are in.
pub fn import_wallet(phrase: RwSignal<String>, status: RwSignal<Option<Result<WalletStatus, ApiError>>>) {
    let words = phrase.get_untracked();
    spawn_local(async move {
        let result = ipc::import_wallet(words).await;
        if result.is_ok() {
            phrase.set(String::new());
        }
        status.set(Some(result));
    })
}

/// The node's wallet: its key only in the OS keyring; the recovery words only on a confirmed request.
#[component]
pub fn Wallet(live: Live) -> impl IntoView {
    let status = RwSignal::new(None::<Result<WalletStatus, ApiError>>);
    let phrase = RwSignal::new(String::new());
    let confirmed = RwSignal::new(false);
    let words = RwSignal::new(None::<Result<String, ApiError>>);
    spawn_local(async move { status.set(Some(ipc::wallet_status().await)) });
    let create = move |_| spawn_local(async move { status.set(Some(ipc::create_wallet().await)) });
    let import = move |_| import_wallet(phrase, status);
    let export = move |_| {
        let c = confirmed.get_untracked();
        spawn_local(async move { words.set(Some(ipc::export_mnemonic(c).await.map(|w| w.words))) })
    };
    view! {
        <h1>"Wallet"</h1>
        <p class="sub">"This node's key lives only in the OS keyring. It signs on real networks; the local network uses its own test accounts."</p>
        <EarningAccount live />
        {move || match status.get() {
            None => view! { <p class="loading">"Reading the keyring…"</p> }.into_any(),
            Some(Err(error)) => view! { <div data-testid="wallet-error"><ErrorBox error /></div> }.into_any(),
            Some(Ok(s)) => match s.address {
                Some(address) => view! {
                    <section class="card">
                        <div class="label muted">"Address"</div>
                        <div class="mono big" data-testid="wallet-address">{address}</div>
                    </section>
                    <section class="card">
                        <div class="row-title">"Back up the recovery words"</div>
                        <label class="check">
                            <input type="checkbox" data-testid="export-confirm"
                                prop:checked=move || confirmed.get()
                                on:change=move |ev| confirmed.set(event_target_checked(&ev)) />
                            " I understand that anyone who sees these words controls this wallet's funds."
                        </label>
                        <div class="actions">
                            <button data-testid="export" disabled=move || !confirmed.get() on:click=export>"Show recovery words"</button>
                        </div>
                        {move || words.get().map(|w| match w {
                            Ok(w) => view! { <div class="words mono" data-testid="mnemonic">{w}</div> }.into_any(),
                            Err(error) => view! { <ErrorBox error /> }.into_any(),
                        })}
                    </section>
                }.into_any(),
                None => view! {
                    <section class="card">
                        <div class="row-title">"No wallet on this machine yet"</div>
                        <div class="actions">
                            <button data-testid="wallet-create" on:click=create>"Create a wallet"</button>
                        </div>
                    </section>
                    <section class="card">
                        <div class="row-title">"Or import one"</div>
                        <textarea data-testid="wallet-phrase" rows="3" placeholder="twelve or twenty-four recovery words"
                            prop:value=move || phrase.get()
                            on:input=move |ev| phrase.set(event_target_value(&ev))></textarea>
                        <div class="actions">
                            <button class="secondary" data-testid="wallet-import" on:click=import>"Import"</button>
                        </div>
                    </section>
                }.into_any(),
            },
        }}
    }
}

/// The account this machine earns with: its balances and where its withdrawals go. The form
/// is drawn once (what is typed survives the status refresh); the figures follow the status.
#[component]
pub fn EarningAccount(live: Live) -> impl IntoView {
    let standing = Memo::new(move |_| {
        live.status.with(|s| s.as_ref().and_then(|s| s.as_ref().ok()).and_then(|s| s.provider.clone()))
    });
    let next = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<(), ApiError>>);
    let busy = RwSignal::new(false);
    let change = move |_| {
        let address = next.get_untracked();
        busy.set(true);
        spawn_local(async move {
            let result = ipc::change_payout(address).await;
            busy.set(false);
            if let Ok(status) = &result {
                live.status.set(Some(Ok(status.clone())));
                next.set(String::new());
            }
            outcome.set(Some(result.map(|_| ())));
        })
    };
    view! {
        {move || standing.get().map(|p: ProviderStanding| view! {
            <section class="card" data-testid="earning-account">
                <div class="row-title">"Earning account"</div>
                <div class="muted mono small">{p.address.clone()}</div>
                {match p.chain {
                    Ok(c) => view! {
                        <dl class="specs">
                            <div><dt>"Earned, withdrawable"</dt><dd data-testid="wallet-withdrawable">{format!("${}", c.withdrawable)}</dd></div>
                            <div><dt>"Stake (locked)"</dt><dd data-testid="wallet-stake">{format!("{} GRID", c.stake)}</dd></div>
                            <div><dt>"Rewards to claim"</dt><dd data-testid="wallet-rewards">{format!("${}", c.rewards)}</dd></div>
                            <div><dt>"Payout address holds"</dt><dd data-testid="wallet-payout-balance">{format!("${}", c.payout_balance)}</dd></div>
                        </dl>
                    }
                    .into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                }}
            </section>
        })}
        <section class="card" class:hidden=move || standing.with(|s| s.as_ref().is_none_or(|p| p.chain.is_err()))>
            <div class="row-title">"Payout address"</div>
            <div class="mono" data-testid="payout-address">{move || {
                standing.get().and_then(|p| p.chain.ok()).map(|c| c.payout_address)
            }}</div>
            {move || standing.get().and_then(|p| p.chain.ok()).and_then(|c| c.pending_payout).map(|pending| view! {
                <p class="muted" data-testid="pending-payout">{format!(
                    "Changing to {} from {} (the market holds a change for two days, so a stolen key cannot redirect earnings at once).",
                    pending.address, utc_label(pending.effective_at_unix_s, false),
                )}</p>
            })}
            <div class="inline">
                <input class="mono grow" data-testid="payout-input" placeholder="0x… new payout address"
                    prop:value=move || next.get() on:input=move |ev| next.set(event_target_value(&ev)) />
                <button data-testid="payout-change" disabled=move || busy.get() || next.get().trim().is_empty()
                    on:click=change>"Change"</button>
            </div>
            {move || outcome.get().map(|o| match o {
                Ok(()) => view! { <p class="ok" data-testid="payout-requested">"Requested."</p> }.into_any(),
                Err(error) => view! { <div data-testid="payout-error"><ErrorBox error /></div> }.into_any(),
            })}
        </section>
    }
}
