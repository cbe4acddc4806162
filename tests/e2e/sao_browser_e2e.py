#!/usr/bin/python3
"""Issue 19: the Tryton web client (Debian's sao 6.0, served by atriumd from
web.root) in Debian's headless Chromium, driven by python3-selenium: log in,
open Sales / Sales from the menu, create an order with two lines, save,
Confirm, then check the state and number on the page and in the database.

A screenshot is kept (path printed) whatever the outcome; on a failure also the
page's HTML and the browser's console log.

usage: sao_browser_e2e.py ATRIUMD [POSTGRESQL_SERVER_URI]   (run with /usr/bin/python3)
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, check_server  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SAO_ROOT = "/usr/share/tryton-sao/www"
WAIT = 45  # seconds for one step: generous for ASan builds on a loaded machine
LINES = [("Widget", "2", "10.00"), ("Gadget", "1", "5.50")]
TAB = "//div[contains(@class,'tab-pane') and contains(@class,'active')]"


def start_browser(profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000", "--user-data-dir=" + profile_dir, "--no-first-run",
                     "--disable-extensions", "--lang=en-US"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    # sao's bus poll (POST /<db>/bus, issue 22) stays in flight while logged in:
    # every page counts its own in window.atriumBusPolls, which Page.idle() leaves out.
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": BUS_POLL_COUNTER})
    return driver


BUS_POLL_COUNTER = """
window.atriumBusPolls = 0;
(function () {
    var open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.open = function (method, url) {
        this.atriumBus = /\\/bus$/.test(String(url));
        return open.apply(this, arguments);
    };
    XMLHttpRequest.prototype.send = function () {
        if (this.atriumBus) {
            window.atriumBusPolls++;
            this.addEventListener("loadend", function () { window.atriumBusPolls--; });
        }
        return send.apply(this, arguments);
    };
})();
"""


class Page:
    """Explicit waits on the sao page."""

    def __init__(self, driver):
        self.driver = driver

    def wait(self, condition, what, timeout=WAIT):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition, what)

    def visible(self, css, timeout=WAIT):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), "visible: " + css, timeout)

    def clickable(self, xpath):
        return self.wait(EC.element_to_be_clickable((By.XPATH, xpath)), "clickable: " + xpath)

    def idle(self):
        """No RPC in flight: sao shows its 'processing' indicator meanwhile, and jQuery counts requests.
        sao's bus poll (POST /<db>/bus, issue 22) is always in flight once logged in: not counted."""
        self.wait(lambda d: d.execute_script("return window.jQuery !== undefined && "
                                             "jQuery.active - (window.atriumBusPolls || 0) === 0"),
                  "sao idle")


def login(page, server):
    """Logs in as admin; returns how the login dialog offered the database:
    "readonly" (the one database listed), "select" (several) or "input" (none
    listed: the user types it)."""
    page.driver.get("http://127.0.0.1:%d/" % server.port)

    def database_field(driver):
        # sao builds both a <select> and an <input> with id "database" and shows one once
        # common.db.list answered (or failed).
        for element in driver.find_elements(By.CSS_SELECTOR, "select#database, input#database"):
            if element.is_displayed():
                return element
        return None
    field = page.wait(database_field, "the database field")
    if field.tag_name == "select":
        offered = "select"
        Select(field).select_by_value(server.db)
    elif field.get_attribute("readonly"):
        offered = "readonly"
        page.wait(lambda d: field.get_attribute("value") == server.db, "database filled in")
    else:
        offered = "input"
        field.send_keys(server.db)
    user = page.visible("input#login")
    user.send_keys("admin")
    user.send_keys(Keys.ENTER)
    password = page.visible("input#ask-dialog-entry[type=password]")
    password.send_keys(server.admin_password)
    password.send_keys(Keys.ENTER)
    page.visible("#menu table")  # the menu tree, read after login
    return offered


def open_sales(page):
    menu_row = "//div[@id='menu']//tr[.//*[normalize-space(text())='%s']]"
    page.clickable(menu_row % "Sales").click()  # the folder expands
    leaf = page.clickable("(" + menu_row % "Sales" + ")[2]")
    page.driver.execute_script("arguments[0].scrollIntoView()", leaf)
    leaf.click()
    page.idle()
    # The list of Sales opens in a tab.
    page.visible("#tabcontent .tab-pane.active .treeview")


def focused(page, name):
    """The input sao's editable list moved the focus to (the cell of `name`)."""
    def check(driver):
        element = driver.switch_to.active_element
        return element if element.get_attribute("name") == name else None
    return page.wait(check, "focus on " + name)


def create_and_confirm(page, customer):
    page.clickable(TAB + "//button[@id='new_']").click()
    page.idle()
    page.visible(".tab-pane.active input[name=customer]").send_keys(customer)
    for product, quantity, unit_price in LINES:
        page.clickable(TAB + "//button[@title='New' and contains(@class,'btn-sm')]").click()  # the lines' New
        page.idle()
        focused(page, "product").send_keys(product, Keys.TAB)
        for name, value in (("quantity", quantity), ("unit_price", unit_price)):
            element = focused(page, name)
            element.send_keys(Keys.CONTROL, "a")
            element.send_keys(value, Keys.TAB)
        page.idle()
    page.clickable(TAB + "//button[@id='save']").click()
    page.idle()
    # Saved: the record has an id, the lines are listed with their amounts.
    page.wait(lambda d: d.find_element(By.CSS_SELECTOR, ".tab-pane.active input[name=total]")
              .get_attribute("value") == "25.50", "total 25.50 after save")
    page.clickable(TAB + "//button[@name='confirm']").click()
    page.idle()
    page.wait(lambda d: state_shown(d) == "Confirmed", "state Confirmed")
    page.wait(lambda d: number_shown(d), "a number")


def state_shown(driver):
    select = driver.find_element(By.CSS_SELECTOR, ".tab-pane.active select[name=state]")
    return select.find_element(By.CSS_SELECTOR, "option:checked").text


def number_shown(driver):
    return driver.find_element(By.CSS_SELECTOR, ".tab-pane.active input[name=number]").get_attribute("value")


def menu_icons_loaded(page):
    """sao draws ir.ui.icon's SVG for the menu folders (a blob: image)."""
    def check(driver):
        sources = driver.execute_script(
            "return jQuery('#menu tr .prefix img').map(function() { return this.src || ''; }).get();")
        return sources if sources and all(src.startswith("blob:") for src in sources) else None
    try:
        return page.wait(check, "menu icons", timeout=10)
    except TimeoutException:
        return None


def run_browser_checks(server, c, driver, artifacts):
    page = Page(driver)
    offered = login(page, server)
    c.check("sao (served by atriumd) logs in as admin and shows the menu; common.db.list offered the database",
            offered in ("readonly", "select"), offered)
    c.check("the menu folders show ir.ui.icon's SVG", menu_icons_loaded(page))
    try:
        polling = page.wait(lambda d: d.execute_script("return window.atriumBusPolls") >= 1, "bus poll", timeout=10)
    except TimeoutException:
        polling = False
    c.check("sao waits on the bus (a POST /<db>/bus in flight, not refused)", polling)
    open_sales(page)
    c.check("Sales / Sales opens its list", True)
    customer = "Browser Customer %d" % os.getpid()
    create_and_confirm(page, customer)
    state, number = state_shown(driver), number_shown(driver)
    c.check("the page shows the order confirmed, with its number", state == "Confirmed"
            and number.startswith("SO"), (state, number))
    rows = database_orders(server, customer)
    c.check("the database holds the order: confirmed, that number, two lines, total 25.50",
            len(rows) == 1 and rows[0]["state"] == "confirmed" and rows[0]["number"] == number
            and len(rows[0]["lines"]) == 2 and str(rows[0]["total"]["decimal"]) in ("25.5", "25.50"), rows)
    # sao keeps the session in localStorage and sends it as "Authorization:
    # Session base64(login:uid:key)": a reload needs no new login.
    logins = server.output().count("common.db.login")
    driver.refresh()
    page.visible("#menu table")
    page.idle()
    after = server.output().count("common.db.login")
    c.check("after a reload the session is reused: no login dialog, no new login",
            not driver.find_elements(By.CSS_SELECTOR, "input#login") and after == logins, (logins, after))
    errors = [entry["message"] for entry in driver.get_log("browser")
              if (entry.get("level") == "SEVERE" and "Failed to load resource" not in entry["message"])
              or "exception" in entry.get("message", "")]
    c.check("no JavaScript error in the browser console", not errors, errors[:5])


def unlisted_checks(atriumd, uri, c, driver):
    """database.list = false: common.db.list is refused (403), and sao lets the
    user type the database name instead."""
    hidden = Server(atriumd, uri, db="e2e_unlisted")

    def run(s, checks):
        status, _ = s.call("common.db.list", [], path="/")
        checks.check("database.list = false: common.db.list answers 403", status == 403, status)
        offered = login(Page(driver), s)
        checks.check("sao then offers a field to type the database in, and logs in", offered == "input", offered)
    os.environ["ATRIUM_DATABASE__LIST"] = "false"  # read when atriumd starts
    try:
        check_server(hidden, run, checks=c)
    finally:
        del os.environ["ATRIUM_DATABASE__LIST"]


def database_orders(server, customer):
    """Read back through JSON-RPC as admin (a session of its own)."""
    session = server.login()
    return server.result("model.sale.order.search_read", [[["customer", "=", customer]], 0, None, None,
                                                            ["state", "number", "lines", "total"], {}],
                         session=session)


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    if not os.path.isfile(os.path.join(SAO_ROOT, "index.html")):
        print("Debian's tryton-sao is not installed (%s): scripts/setup.sh installs it" % SAO_ROOT)
        return 1
    artifacts = tempfile.mkdtemp(prefix="atrium-sao-browser-")  # kept: the screenshot is the artifact
    print("artifacts: " + artifacts, flush=True)
    profile = tempfile.mkdtemp(prefix="atrium-chromium-")
    server = Server(atriumd, uri, extra_config="", db="e2e")

    def run_checks(s, c):
        driver = start_browser(profile)
        try:
            run_browser_checks(s, c, driver, artifacts)
            unlisted_checks(atriumd, uri, c, driver)
        except Exception:
            dump(driver, artifacts)
            raise
        finally:
            try:
                driver.save_screenshot(os.path.join(artifacts, "final.png"))
                print("screenshot: " + os.path.join(artifacts, "final.png"), flush=True)
            except WebDriverException as error:
                print("no screenshot: %s" % error)
            driver.quit()

    try:
        return check_server(server, run_checks).finish()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump(driver, artifacts):
    try:
        with open(os.path.join(artifacts, "page.html"), "w") as f:
            f.write(driver.page_source)
        with open(os.path.join(artifacts, "console.log"), "w") as f:
            for entry in driver.get_log("browser"):
                f.write("%s %s\n" % (entry.get("level"), entry.get("message")))
        print("page and console log in " + artifacts, flush=True)
    except WebDriverException as error:
        print("no page dump: %s" % error)


if __name__ == "__main__":
    started = time.time()
    rc = main()
    print("%.1f s" % (time.time() - started))
    sys.exit(rc)
