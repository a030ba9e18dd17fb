// The phone wallet's logic with no UI, for tests/test_phone_logic.py: exposed on window so that
// the test can drive it with page.evaluate.
import { WalletError, openWallet } from "../../wallet/app/src/wallet.js";

window.cityidWallet = { openWallet, WalletError };
