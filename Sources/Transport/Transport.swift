import Core
import CQUIC
