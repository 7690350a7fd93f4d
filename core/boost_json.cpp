// Boost.JSON's compiled part, once for the program (Debian ships no
// libboost_json); elsewhere include <boost/json.hpp>.
#include <boost/json/src.hpp>
