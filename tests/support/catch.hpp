#pragma once
// The one place that names the Catch2 version (v2 in Debian bookworm).
#include <catch2/catch.hpp>
