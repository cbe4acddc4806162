#pragma once
// The current user's preferences as the Tryton 6.0 client reads them
// (get_preferences at login: the context, then the main window's settings
// with the menu action `pyson_menu`), set_preferences, and res.user.device
// (the client renews its device cookie after each login).

#include "modules/model.hpp"

#include <nlohmann/json.hpp>

namespace atrium::modules::res {

/// context_only: {language, language_direction, groups}, which the client
/// sends back as the context of every later call. Otherwise every key the
/// client and its Preferences dialog read (trytond 6.0's set).
nlohmann::json get_preferences(const model& users, bool context_only);

/// Changes the current user's own preferences (name, language, email,
/// signature, password); the password placeholder get_preferences sends is ignored.
void set_preferences(const model& users, const nlohmann::json& values);

/// res.user.device: renew(cookie) answers a new random cookie.
model_def device_model();

}  // namespace atrium::modules::res
