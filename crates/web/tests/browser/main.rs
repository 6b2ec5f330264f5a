//! The console in a real headless Chromium, driven over WebDriver (chromedriver), against the
//! server on a random port, on both engines. Needs chromedriver at `ATIENDE_WEBDRIVER_URL`
//! (default `http://127.0.0.1:9515`); `.ci/run` installs and starts it.

mod accessibility;
mod harness;
mod journeys;
mod portal;
mod sign_in;
mod together;
mod web_chat;
