#pragma once
// What the res module shows in the client: the Administration menu (for the
// Administration group) with Users and Groups, and their views.

#include "modules/ui_def.hpp"

namespace atrium::modules::res {

ui_def views();

}  // namespace atrium::modules::res
