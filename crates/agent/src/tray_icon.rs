//! The tray icon's states, drawn from the app icon: earning (the icon: a job is computing), idle
//! (the icon, faded: serving, no job right now), paused (grey: the owner paused earning), waiting
//! (grey and faded: held until the owner is away or a limit lifts), error (a red dot).

/// What the tray shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrayState {
    Earning,
    Idle,
    Paused,
    Waiting,
    Error,
}

/// The icon for `state`, from the app icon's RGBA pixels (`width` × `height`).
pub(crate) fn variant(rgba: &[u8], width: u32, height: u32, state: TrayState) -> Vec<u8> {
    let mut out = rgba.to_vec();
    match state {
        TrayState::Earning => {}
        TrayState::Idle => {
            for px in out.chunks_exact_mut(4) {
                px[3] = (u32::from(px[3]) * 140 / 255) as u8;
            }
        }
        TrayState::Paused | TrayState::Waiting => {
            let fade = if state == TrayState::Waiting { 160 } else { 255 };
            for px in out.chunks_exact_mut(4) {
                // Rec. 601 luma, in integers.
                let luma = ((299 * u32::from(px[0]) + 587 * u32::from(px[1]) + 114 * u32::from(px[2])) / 1000) as u8;
                px[0] = luma;
                px[1] = luma;
                px[2] = luma;
                px[3] = (u32::from(px[3]) * fade / 255) as u8;
            }
        }
        TrayState::Error => {
            // A red dot in the lower right quarter.
            let (w, h) = (width as i64, height as i64);
            let r = w.min(h) / 4;
            let (cx, cy) = (w - r - 1, h - r - 1);
            for y in 0..h {
                for x in 0..w {
                    if (x - cx).pow(2) + (y - cy).pow(2) <= r * r {
                        let i = ((y * w + x) * 4) as usize;
                        out[i..i + 4].copy_from_slice(&[220, 38, 38, 255]);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_draws_a_distinct_icon_of_the_same_size() {
        let (w, h) = (8u32, 8u32);
        let icon: Vec<u8> = (0..w * h).flat_map(|i| [10, 180, 120, if i % 2 == 0 { 255 } else { 200 }]).collect();
        let earning = variant(&icon, w, h, TrayState::Earning);
        let paused = variant(&icon, w, h, TrayState::Paused);
        let waiting = variant(&icon, w, h, TrayState::Waiting);
        let error = variant(&icon, w, h, TrayState::Error);
        let idle = variant(&icon, w, h, TrayState::Idle);
        assert_eq!(earning, icon, "earning is the app icon");
        for v in [&paused, &waiting, &error, &idle] {
            assert_eq!(v.len(), icon.len());
        }
        assert_eq!(&idle[0..3], &icon[0..3], "idle keeps the colours");
        assert!(idle[3] < icon[3], "idle is fainter");
        let all = [&earning, &idle, &paused, &waiting, &error];
        for (i, a) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|b| a != b), "every state looks different");
        }
        assert!(paused.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]), "paused is grey");
        assert_eq!(paused[3], 255, "paused keeps the alpha");
        assert!(waiting[3] < paused[3], "waiting is fainter than paused");
        let last = ((h - 2) * w + (w - 2)) as usize * 4;
        assert_eq!(&error[last..last + 4], &[220, 38, 38, 255], "error has a red dot at the lower right");
        assert_eq!(&error[0..4], &icon[0..4], "and the icon elsewhere");
    }
}
