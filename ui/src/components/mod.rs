//! Pieces more than one page draws: fields, a spec line, the error box, the job table, the
//! background settings form.

pub mod background;
pub mod job_table;

use gridmint_protocol::ApiError;
use leptos::prelude::*;

/// A labelled checkbox bound to `value`; the children are the label.
#[component]
pub fn Toggle(testid: &'static str, value: RwSignal<bool>, children: Children) -> impl IntoView {
    view! {
        <label class="check">
            <input type="checkbox" data-testid=testid prop:checked=move || value.get()
                on:change=move |ev| value.set(event_target_checked(&ev)) />
            {children()}
        </label>
    }
}

/// A small whole-number field bound to `value` (as typed: checked when saved).
#[component]
pub fn NumberField(
    testid: &'static str,
    value: RwSignal<String>,
    min: u32,
    max: u32,
    #[prop(optional)] placeholder: &'static str,
) -> impl IntoView {
    view! {
        <input type="number" min=min max=max class="minutes" data-testid=testid placeholder=placeholder
            prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
    }
}

#[component]
pub fn Spec(#[prop(into)] label: String, value: String) -> impl IntoView {
    view! { <div><dt>{label}</dt><dd>{value}</dd></div> }
}

#[component]
pub fn ErrorBox(error: ApiError) -> impl IntoView {
    let code = format!("{:?}", error.code);
    view! {
        <div class="error" data-testid="error" role="alert">
            <code>{code}</code>": "{error.message}
        </div>
    }
}

/// The header's logo and name.
#[component]
pub fn Brand() -> impl IntoView {
    view! {
        <div class="logo" aria-hidden="true">
            <span></span><span></span><span></span>
            <span></span><span></span><span></span>
            <span></span><span></span><span></span>
        </div>
        <div class="brand">"Gridmint"</div>
    }
}
