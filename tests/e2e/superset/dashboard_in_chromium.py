"""Open the kam dashboard in headless Chromium (run with .venv-bi's Python: selenium lives there).

  python dashboard_in_chromium.py BASE_URL USER PASSWORD SCREENSHOT.png

Logs in through the form, opens /superset/dashboard/kam/, waits until every chart has
finished loading, and prints one JSON line: the charts found, those that rendered
(a canvas, an svg or a table inside), the error boxes' texts and the browser's SEVERE
console messages. Exit 0 even when charts failed: the test judges the JSON.
"""

import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, user, password, shot = sys.argv[1:5]
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,2600",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(f"{base}/login/")
    deadline = time.time() + 60
    while not driver.find_elements(By.CSS_SELECTOR, "input#username, input[name='username']"):
        if time.time() > deadline:
            raise SystemExit("no login form at /login/")
        time.sleep(0.5)
    driver.find_element(By.CSS_SELECTOR, "input#username, input[name='username']").send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "input#password, input[name='password']").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type='submit'], input[type='submit']").click()
    # the login is done when the browser has left /login/ (a fixed pause was too short on a loaded machine:
    # the dashboard was then asked for without the session and answered with the login form)
    deadline = time.time() + 60
    while "/login" in driver.current_url:
        if time.time() > deadline:
            raise SystemExit(f"still on {driver.current_url} 60 s after signing in")
        time.sleep(0.5)
    driver.get(f"{base}/superset/dashboard/kam/")
    js = """
      const holders = [...document.querySelectorAll('.dashboard-component-chart-holder')];
      const drawn = 'canvas, svg, table, .big-number-total, [class*="BigNumber"]';
      const rendered = holders.filter(h => h.querySelector(drawn));
      const loading = document.querySelectorAll('.loading, [aria-label="Loading"], .ant-skeleton').length;
      const boxes = '.alert-danger, .ant-alert-error, [data-test="error-message"], .error-alert';
      const errors = [...document.querySelectorAll(boxes)].map(e => e.innerText.slice(0, 300));
      return {charts: holders.length, rendered: rendered.length, loading: loading, errors: errors};
    """
    deadline = time.time() + 120
    state = {}
    while time.time() < deadline:
        state = driver.execute_script(js)
        if state["charts"] and state["loading"] == 0 and state["rendered"] + len(state["errors"]) >= state["charts"]:
            break
        time.sleep(1)
    time.sleep(2)  # animations settle before the picture
    state = driver.execute_script(js)
    driver.save_screenshot(shot)
    state["console"] = [e["message"][:300] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    state["title"] = driver.title
    print(json.dumps(state))
finally:
    driver.quit()
